# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install pinned dependencies, run the embedded demo
#   make test   the same set-up, then the whole test suite
#   make check  the same set-up, then lint, format and type checks (CI runs it first)
# A second call skips the set-up: the stamp file is newer than its inputs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench bench-peer setup test-deps bytecode clean

run: $(STAMP) bytecode
	$(BIN)/bot run

test: $(STAMP) test-deps bytecode
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot
	$(BIN)/mypy

# Minutes on a busy machine: BENCH_RUNS=1 for one run of the real replay,
# or bench/run.py --only real_replay,walk_forward for some figures.
bench: $(STAMP) bytecode
	$(BIN)/python bench/run.py

# Ours against FreqAI on the same walk-forward, paired (REPEATS=2 by default);
# the peer's venv is built once under FTPEER_DIR (default /tmp/ftpeer).
bench-peer: $(STAMP) bytecode
	$(BIN)/python bench/peer.py

setup: $(STAMP)

# Every `bot` process imports about 140 of our modules. Where
# PYTHONDONTWRITEBYTECODE is set (CI images, some containers) Python never
# saves their bytecode and compiles them all again at each start, about
# 0.15 s of CPU; compiled here once, and again only for files that changed.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q bot strategies

# What the tests need beyond Python, installed when missing (as root with
# apt, which CI is): Debian's chromium and chromium-driver for the
# dashboard's browser tests, and PostgreSQL's server binaries for the store
# tests the suite runs on a server it starts itself. Elsewhere those tests
# skip and say why.
test-deps:
	@missing=""; \
	{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || missing="chromium chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing for the tests"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null)); \
	else echo "missing$$missing and not root: the tests that need them will skip"; fi

# requirements.txt pins every package the daemon needs, requirements-dev.txt
# adds the test and check tools; torch==2.13.0 resolves to the CPU wheel on
# this machine, so no multi-GB CUDA build is pulled in.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -qq --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) state/*.sqlite* state/models state/*.jsonl

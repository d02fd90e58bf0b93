"""`bot sweep`: a grid of walk-forward backtests, config overrides x
symbols x periods, each cell the strategy's own `bot backtest` (without
the baseline models), run on the backtest's executor (Ray by default).

A cell is cached under a hash of everything that decides its result: its
config, the data file's bytes, symbol, period, the bot's own source, the
strategy files and the versions of the libraries that compute it.
A finished cell's result is written at once (atomically), so a sweep that
is killed and started again runs only the cells it lacks, and gives the
same results as an uninterrupted one. Every cell's deflated Sharpe ratio
counts all the cells of the grid as trials."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from bot import json_values
from bot.config import Config, ConfigError, describe_validation_error
from bot.whole_file import write_text_whole

METRICS = ("total_return", "sharpe", "max_drawdown", "trades", "win_rate", "exposure", "fees_paid", "psr")
BUY_AND_HOLD = ("total_return", "sharpe", "max_drawdown")


@dataclass(frozen=True)
class Cell:
    overrides: dict
    symbol: str
    data: Path
    start: str | None
    end: str | None

    @property
    def label(self) -> str:
        setting = " ".join(f"{k}={json.dumps(v)}" for k, v in self.overrides.items()) or "as configured"
        return f"{setting} | {self.symbol} | {self.start or '..'}..{self.end or '..'}"


def parse_override(text: str) -> tuple[str, list]:
    """`model.hidden_size=[32,64]` -> ("model.hidden_size", [32, 64]); a
    single value is a list of one."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set: '{text}' is not KEY=VALUE or KEY=[V1,V2]")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare word: a string
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ConfigError(f"--set {key.strip()}: an empty list leaves no value to try")
    refuse_twice(f"--set {key.strip()}", [json.dumps(v, sort_keys=True) for v in values])
    return key.strip(), values


def refuse_twice(option: str, values: list[str]) -> None:
    """A value given twice made the same cells twice (the last --set of a key
    won silently), and counted each as another trial in the deflated Sharpe."""
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ConfigError(f"{option}: {', '.join(twice)} given more than once")


def grid(overrides: list[tuple[str, list]]) -> list[dict]:
    keys = [k for k, _ in overrides]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(v for _, v in overrides))]


# What each cell sets itself, or what no cell reads: a --set of these was
# silently dropped (every row read the config's own replay.data, whatever
# file the setting named).
NOT_SWEPT = {
    "mode": "a sweep is made of backtests",
    "symbols": "--symbols chooses them",
    "replay": "--symbols and --period choose the data and the period",
    "storage": "each cell has its own database under --out",
    "logging": "each cell logs under --out",
    "api": "a backtest serves no API",
    "notify": "a backtest sends no notification",
    "base_dir": "it is where the config's paths start",
}


def apply(cfg: Config, overrides: dict) -> Config:
    """The config with dotted keys set; a key the config lacks is refused,
    and so is one the sweep sets itself. A section given as a mapping is
    merged into the config's, one level deep (`_merged`)."""
    data = cfg.model_dump()
    for dotted, value in overrides.items():
        *path, last = dotted.split(".")
        top = (path or [last])[0]
        if top in NOT_SWEPT:
            raise ConfigError(f"--set {dotted}: not a sweep setting ({NOT_SWEPT[top]})")
        node = data
        for part in path:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--set {dotted}: the config has no section '{part}'")
            node = node[part]
        if last not in node and not (path and path[-1] == "params"):
            raise ConfigError(f"--set {dotted}: the config has no key '{last}'")
        node[last] = _merged(node[last], value) if isinstance(node.get(last), dict) else value
    try:
        return Config.exactly(data)
    except ConfigError as exc:
        raise ConfigError(f"--set: {exc}") from None
    except ValidationError as exc:  # a value of the wrong type or out of range
        raise ConfigError(f"--set: {describe_validation_error(exc)}") from None


def _merged(current: dict, value: object) -> dict | object:
    """`--set 'paper={"slippage_bps": 1}'` changes that one key; it reset
    the rest of the section to the defaults, unlike BOT__PAPER. One level
    only: a mapping inside (strategy.params) is replaced, so that
    `--set 'strategy={"name": "edge", "params": {...}}'` still sweeps a
    strategy without the other one's parameters."""
    return {**current, **value} if isinstance(value, dict) else value


@cache
def _source_digest() -> str:
    """The bot's own code: a cell computed by other code is another cell."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def _strategies_digest(directory: Path) -> str:
    """The strategy files a cell may run or import: an edited strategy gave
    the cached result of the one before it."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.py")) if directory.is_dir() else []:
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(_file_digest(path.resolve()).encode())
    return digest.hexdigest()


# What else computes a cell: another torch or lightgbm trains other models.
LIBRARIES = ("numpy", "pandas", "torch", "onnxruntime", "scikit-learn", "lightgbm", "hmmlearn")


@cache
def _library_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def cell_key(cfg: Config, cell: Cell) -> str:
    decided = json.loads(cfg.model_dump_json(exclude={"storage", "logging", "api", "notify", "base_dir"}))
    identity = {
        "config": decided,
        "data": _file_digest(cell.data.resolve()),
        "symbol": cell.symbol,
        "period": [cell.start, cell.end],
        "code": _source_digest(),
        "strategies": _strategies_digest(cfg.path(cfg.strategy.path).resolve()),
        "libraries": _library_versions(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_cell(payload: str) -> str:
    """One cell, in a worker: the strategy's walk-forward backtest; its
    metrics, per-bar returns (for the deflated Sharpe ratio) and a digest
    of its fills (to compare with a single `bot backtest`)."""
    from bot.backtest.runner import BacktestSpec, run_backtest
    from bot.report.metrics import simple_returns

    job = json.loads(payload)
    cfg = Config.exactly(job["config"])
    spec = BacktestSpec(
        data=Path(job["data"]), symbol=job["symbol"], start=job["start"], end=job["end"],
        out_dir=Path(job["work_dir"]), workers=job["workers"], baselines=False,
    )  # fmt: skip
    result = run_backtest(cfg, spec)
    strategy, held = result.strategy, result.baselines["buy_and_hold"].metrics
    fills = strategy.fills[["ts", "side", "qty", "price", "fee"]].to_csv(index=False)
    return json.dumps(
        {
            # Buy and hold of the cell's symbol over its traded bars beside
            # each cell: a cell is judged against the market it traded.
            "metrics": {
                **{k: strategy.metrics.get(k) for k in METRICS},
                **{f"buy_and_hold_{k}": held.get(k) for k in BUY_AND_HOLD},
            },
            "returns": [float(r) for r in simple_returns(strategy.equity)],
            "fills_digest": hashlib.sha256(fills.encode()).hexdigest()[:16],
        }
    )


def deflate(results: list[dict]) -> None:
    """Each cell's deflated Sharpe ratio, with every cell of the grid a trial."""
    from bot.report.model_quality import deflated_sharpe_ratio

    returns = [np.asarray(r["returns"], dtype=float) for r in results]
    sharpes = np.array([r.mean() / r.std(ddof=1) for r in returns if len(r) > 2 and r.std(ddof=1) > 0])
    for result, r in zip(results, returns, strict=True):
        traded = len(r) > 2 and r.std(ddof=1) > 0
        result["metrics"]["dsr"] = deflated_sharpe_ratio(r, sharpes, len(results))["dsr"] if traded else None
        result["metrics"]["dsr_trials"] = len(results)


@dataclass(frozen=True)
class SweepOutcome:
    results: list[dict]  # one per cell, in grid order
    ran: int  # cells computed this time
    cached: int  # cells found finished


def run_sweep(
    cfg: Config, cells: list[Cell], out_dir: Path, workers: int, executor: str, address: str | None, on_done
) -> SweepOutcome:
    (out_dir / "cells").mkdir(parents=True, exist_ok=True)
    keys = [cell_key(apply(cfg, c.overrides), c) for c in cells]
    done = {k for k in keys if _finished(out_dir / "cells" / f"{k}.json")}
    payloads = {
        key: json.dumps(
            {
                "config": json.loads(apply(cfg, cell.overrides).model_dump_json()),
                "data": str(cell.data.resolve()),
                "symbol": cell.symbol,
                "start": cell.start,
                "end": cell.end,
                "work_dir": str((out_dir / "work" / key).resolve()),
                "workers": workers,  # cells side by side: torch threads shared among them
            }
        )
        for key, cell in zip(keys, cells, strict=True)
        if key not in done
    }
    by_key = dict(zip(keys, cells, strict=True))

    def finished(key: str, result: str) -> None:
        cell = by_key[key]
        record = {"key": key, "overrides": cell.overrides, "symbol": cell.symbol, "start": cell.start,
                  "end": cell.end, **json.loads(result)}  # fmt: skip
        write_text_whole(out_dir / "cells" / f"{key}.json", json.dumps(record))
        on_done(cell)

    from bot.backtest.executor import run_tasks

    run_tasks(run_cell, payloads, workers, finished, executor, address)
    results = [json.loads((out_dir / "cells" / f"{k}.json").read_text()) for k in keys]
    deflate(results)
    return SweepOutcome(results, ran=len(payloads), cached=len(done))


def _finished(path: Path) -> bool:
    """A cell's file as a finished cell writes it; a damaged one (an edit, a
    disk that filled) failed the whole sweep with a JSONDecodeError naming
    no file, and is now computed again."""
    if not path.exists():
        return False
    try:
        record = json.loads(path.read_text())
        return isinstance(record.get("metrics"), dict) and isinstance(record.get("returns"), list)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def write_results(outcome: SweepOutcome, out_dir: Path) -> tuple[Path, Path]:
    from bot.backtest.sweep_report import sweep_html

    table = [{k: v for k, v in r.items() if k != "returns"} for r in outcome.results]
    json_path, html_path = out_dir / "results.json", out_dir / "sweep.html"
    write_text_whole(json_path, json_values.dumps({"cells": table}, indent=1))
    write_text_whole(html_path, sweep_html(table))
    return json_path, html_path

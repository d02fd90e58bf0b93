"""A file the user names for a command's output (--html, --json, --csv,
--out) is checked before any work: a long backtest is not thrown away at
its last line for a bad path, and no report ever replaces the run's own
database, config, log, replay data, strategy or model files, what the
command reads, or a file of another kind than its own."""

from __future__ import annotations

from pathlib import Path

from bot.brief_text import brief
from bot.config import Config, ConfigError
from bot.error_text import first_line
from bot.writable import check_writable_directory

# What an existing file must be named to be replaced by each option's
# output: a report replaces an earlier report, never a file of another kind
# (`--json data.csv` replaced the backtest's own --data file, `--html
# edge.py` the strategy, `--json .venv/bin/python` the interpreter).
CSV = (".csv", ".csv.gz")
REPLACEABLE = {"--json": (".json",), "--html": (".html", ".htm"), "--csv": CSV, "--out": CSV}


def check_output_path(
    path: Path,
    option: str,
    cfg: Config,
    config_path: Path,
    named_as_its_kind: bool = False,
    inputs: dict[Path, str] | None = None,
    kinds: tuple[str, ...] | None = None,
) -> None:
    """ConfigError naming `option` unless `path` is a new or replaceable
    file, in a directory that takes files, that is none of the run's own
    nor one of `inputs` (this command's other files: what it reads, and
    its other outputs). `named_as_its_kind`: a new file too must be named
    as the option's kind (download's --out: the name says whether to gzip).
    `kinds`: the suffixes an existing file must have, where the option's
    own are not this file's (a sweep's --out holds a .json and a .html)."""
    try:
        _check_output_path(path, option, cfg, config_path, named_as_its_kind, inputs, kinds)
    except OSError as exc:  # a name too long for the file system: was "error: OSError..."
        raise ConfigError(f"{option}: {brief(str(path), 80)}: {exc.strerror or first_line(exc)}") from None
    except RuntimeError:  # Python 3.11's Path.resolve on a loop of symbolic links
        raise ConfigError(f"{option}: {brief(str(path), 80)} is a loop of symbolic links") from None


def _check_output_path(
    path: Path,
    option: str,
    cfg: Config,
    config_path: Path,
    named_as_its_kind: bool,
    inputs: dict[Path, str] | None,
    kinds: tuple[str, ...] | None,
) -> None:
    target = path.expanduser().resolve()
    own = _run_files(cfg, config_path).get(target)
    if own is not None:
        raise ConfigError(f"{option}: {path} is the run's {own}; write it elsewhere")
    named = {p.expanduser().resolve(): what for p, what in (inputs or {}).items()}.get(target)
    if named is not None:
        raise ConfigError(f"{option}: {path} is {named}; write it elsewhere")
    models = cfg.path(cfg.storage.models_dir).resolve()
    if target.is_relative_to(models):
        raise ConfigError(f"{option}: {path} is inside the run's models directory {models}; write it elsewhere")
    if target.is_dir():
        raise ConfigError(f"{option}: {path} is a directory; give a file name")
    _refuse_what_is_no_output(target, path, option, kinds or REPLACEABLE.get(option, ()))
    if named_as_its_kind and not target.name.endswith(REPLACEABLE[option]):
        raise ConfigError(f"{option}: {path} must end in {' or '.join(REPLACEABLE[option])}")
    if target.parent.exists() and not target.parent.is_dir():
        raise ConfigError(f"{option}: {target.parent} is a file, not a directory")
    if not target.parent.is_dir():
        raise ConfigError(f"{option}: the directory {target.parent} does not exist")
    check_writable_directory(target.parent, option)  # a read-only mount or /proc takes no file


def check_out_dir(out_dir: Path, cfg: Config, config_path: Path, variants: list[str]) -> None:
    """ConfigError naming --out-dir when a variant's directory in it holds
    the run's own database, log or models: each variant wipes its
    bot.sqlite and model versions there first (a daemon's database in
    <out-dir>/strategy/ was replaced by the backtest's while it ran)."""
    from bot.store.integrity import foreign_models, sqlite_run_ownership

    own = _run_files(cfg, config_path)
    models = cfg.path(cfg.storage.models_dir).resolve()
    for name in variants:
        directory = (out_dir / name).expanduser().resolve()
        for file in ("bot.sqlite", "bot.jsonl"):
            what = own.get(directory / file)
            if what is not None:
                raise ConfigError(
                    f"--out-dir: {directory / file} is the run's {what}, which the {name} variant would wipe; "
                    "give another directory"
                )
        variant_models = directory / "models"
        if variant_models == models:  # a wipe removes the version directories right in it, no deeper
            raise ConfigError(
                f"--out-dir: the {name} variant's models ({variant_models}) would be the run's own "
                f"models directory {models}; give another directory"
            )
        # Only the models of this variant's earlier run there (its RUN_ID in
        # its bot.sqlite there) are wiped: another run's are refused.
        foreign = foreign_models(variant_models, *sqlite_run_ownership(directory / "bot.sqlite"))
        if foreign is not None:
            raise ConfigError(
                f"--out-dir: the {name} variant's models directory {variant_models} {foreign}, which its wipe "
                "would remove; give another directory (or remove them there by hand)"
            )


def _refuse_what_is_no_output(target: Path, path: Path, option: str, kinds: tuple[str, ...]) -> None:
    """An existing file is replaced only when it could be an earlier output:
    a regular file that is not a program. A mistyped path once replaced the
    virtual environment's python with a JSON report; a device (/dev/stdout)
    cannot be written whole."""
    if not target.exists():
        return
    if not target.is_file():
        raise ConfigError(f"{option}: {path} is not a regular file (a device or a pipe); give a file name")
    if target.stat().st_mode & 0o111:
        raise ConfigError(f"{option}: {path} is a program (executable), not an earlier output; write elsewhere")
    if kinds and not target.name.lower().endswith(kinds):
        raise ConfigError(
            f"{option}: {path} exists and is not a {' or '.join(kinds)} file; an output replaces only an earlier "
            "output of its kind: name another file"
        )


def _run_files(cfg: Config, config_path: Path) -> dict[Path, str]:
    from bot.store import sqlite_path

    files = {config_path.expanduser().resolve(): "config", cfg.path(cfg.logging.file).resolve(): "log"}
    files[(cfg.path(cfg.strategy.path) / f"{cfg.strategy.name}.py").resolve()] = "strategy"
    for symbol in cfg.symbols:  # the bars it replays (in live mode too: the config still names them)
        files[cfg.replay_csv(symbol).resolve()] = f"replay data ({symbol})"
    db = sqlite_path(cfg.db_url)
    if db is not None:
        for suffix in ("", "-wal", "-shm", ".lock"):
            files[Path(f"{db}{suffix}").resolve()] = "database"
    return files

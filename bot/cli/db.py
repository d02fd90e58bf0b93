"""`bot db upgrade`: move the run's database to the tables this version of
the bot reads, through its migrations (bot/store/migrations). A write, so
it takes the run's lease: never beside a running daemon."""

from __future__ import annotations

import typer

from bot.cli.common import DEFAULT_CONFIG, ConfigPath, UserError, err_console, guarded, hold_the_run, server_has_run
from bot.config import ConfigError, load_config

db_app = typer.Typer(help="The run's database: apply schema migrations.", no_args_is_help=True)


@db_app.command("upgrade")
@guarded
def upgrade(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Apply the migrations the run's database lacks (none: it says so)."""
    from bot.store import Store, schema, sqlite_path

    cfg = load_config(config)
    db = sqlite_path(cfg.db_url)
    if db is not None:
        from bot.store.integrity import check_existing_database

        # As every other command refuses it: a damaged file, or one that holds
        # no run of this bot, which an upgrade would fill with the bot's tables.
        if not check_existing_database(db, cfg.path(cfg.storage.models_dir)):
            raise UserError(f"no run yet in {db}: nothing to upgrade")
    elif not server_has_run(cfg.db_url):  # opening the store would make one
        raise UserError(f"no run yet in {cfg.db_shown}: nothing to upgrade")
    lease = hold_the_run(cfg, "bot db upgrade")  # noqa: F841 (held until exit)
    store = Store(cfg.db_url)
    try:
        try:
            found = schema.revision(store.engine)
        except schema.MigrationRecordError as exc:
            raise ConfigError(f"storage.db_url: {cfg.db_shown}: {exc}") from None
        if found not in schema.known_revisions():  # None too: the record of a made run was lost
            raise ConfigError(f"storage.db_url: {cfg.db_shown}: {schema.problem(found)}")
        before, after = schema.upgrade(store.engine)
    finally:
        store.close()
    if before == after:
        err_console.print(f"{cfg.db_shown} is already at migration {after}", markup=False)
    else:
        err_console.print(f"{cfg.db_shown} upgraded from migration {before} to {after}", markup=False)

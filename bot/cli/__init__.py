"""The `bot` command. Heavy modules (torch, pandas, SQLAlchemy) are imported
inside the commands that need them, so a config error or --help answers at
once."""

from __future__ import annotations

import typer

from bot.cli.backtest import backtest, check_lookahead, sweep
from bot.cli.db import db_app
from bot.cli.download import download
from bot.cli.models import models_app, train
from bot.cli.operate import flatten, pause, resume
from bot.cli.review import explain, report, status, trades
from bot.cli.run import run
from bot.cli.serve import serve

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="LSTM paper-trading daemon: replay, live paper trading, models and reports.",
)
for command in (run, backtest, sweep, download, train, report, trades, explain, status, resume, pause, flatten, serve):
    app.command()(command)
app.command(name="check-lookahead")(check_lookahead)
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")

"""The `bot` command's first step: Ctrl+C pressed while the CLI's modules
load (a few tenths of a second) printed a KeyboardInterrupt traceback;
it exits 130, as a Ctrl+C during a command does."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from bot.cli import app
    except KeyboardInterrupt:
        sys.exit(130)
    app()

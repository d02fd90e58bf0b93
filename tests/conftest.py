"""Fixtures and hooks only: the plain helpers live in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import replay, write_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """Directory of one complete tiny replay, shared by the tests that read it."""
    directory = tmp_path_factory.mktemp("tiny_run")
    replay(write_config(directory))
    return directory


@pytest.fixture(autouse=True)
def _no_bot_env(monkeypatch):
    """Tests must not see BOT__ overrides from the shell that runs them, nor
    its notification URLs or API token (a test sets its own)."""
    for name in list(os.environ):
        if name.startswith("BOT__") or name in ("BOT_NOTIFY_URLS", "BOT_API_TOKEN"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of the tests' own, for the whole session."""
    from postgres import PostgresServer, bin_dir

    if bin_dir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request):
    """Makes fresh databases on each backend: a SQLite file in the given
    directory, or a database of its own on the tests' PostgreSQL server."""
    if request.param == "sqlite":
        return lambda directory: f"sqlite:///{directory / 'bot.sqlite'}"
    server = request.getfixturevalue("postgres")
    return lambda directory: server.new_database()


@pytest.fixture
def db_url(new_database, tmp_path) -> str:
    """A fresh database for the store, on each backend."""
    return new_database(tmp_path)

"""The service files a user deploys with: the image's HEALTHCHECK really
tells a stepping daemon from a stuck one, the image carries no test tools,
and the compose file runs the daemon and the dashboard with a restart
policy on the state volume."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, write_config
from test_serve import bot_serving

DOCKERFILE = (REPO / "Dockerfile").read_text()


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's CMD, as the image would run it (python is ours here)."""
    match = re.search(r"HEALTHCHECK [^\n]*\\\n\s*CMD (.+)", DOCKERFILE)
    assert match, "the Dockerfile has no HEALTHCHECK ... CMD"
    argv = shlex.split(match.group(1))
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def copy_of(tiny_run: Path, directory: Path, newest_bar_ms: int | None) -> Path:
    """A copy of the tiny replay, its newest bar moved to `newest_bar_ms`
    if given (as if the daemon had just stepped it)."""
    write_config(directory)
    with sqlite3.connect(tiny_run / "bot.sqlite") as source, sqlite3.connect(directory / "bot.sqlite") as copy:
        source.backup(copy)
        if newest_bar_ms is not None:
            copy.execute("UPDATE bars SET ts = ? WHERE ts = (SELECT MAX(ts) FROM bars)", (newest_bar_ms,))
    return directory


@pytest.mark.parametrize("fresh", [True, False], ids=["stepping", "stuck"])
def test_the_images_healthcheck_tells_a_stepping_daemon_from_a_stuck_one(tiny_run: Path, tmp_path: Path,
                                                                         fresh: bool) -> None:
    hour = 3_600_000
    newest = (int(time.time() * 1000) // hour - 1) * hour if fresh else None  # the bar that closed last
    with bot_serving(copy_of(tiny_run, tmp_path, newest)) as base:
        port = base.rsplit(":", 1)[1]
        check = subprocess.run(healthcheck_command(), env={**os.environ, "BOT__API__PORT": port},
                               capture_output=True, text=True, timeout=60)
    assert (check.returncode == 0) is fresh, check.stderr
    if not fresh:
        assert "503" in check.stderr


def test_the_image_installs_the_daemons_packages_and_no_test_tools() -> None:
    installs = re.findall(r"pip install[^\n]*", DOCKERFILE)
    assert any("-r requirements.txt" in line for line in installs)
    assert not any("requirements-dev" in line or "[test]" in line for line in installs)
    runtime = {line.split("==")[0].lower() for line in (REPO / "requirements.txt").read_text().splitlines()
               if "==" in line}
    assert {"fastapi", "uvicorn", "plotly", "torch"} <= runtime
    assert not runtime & {"pytest", "hypothesis", "selenium", "ruff", "mypy", "freezegun"}


def test_compose_runs_the_daemon_and_the_dashboard_on_the_state_volume() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    bot, dashboard = compose["services"]["bot"], compose["services"]["dashboard"]
    assert bot["command"][0] == "run" and dashboard["command"][0] == "serve"
    for service in (bot, dashboard):
        assert service["restart"] in ("unless-stopped", "always", "on-failure")
        assert "bot-state:/app/state" in service["volumes"]
    assert all(port.startswith("127.0.0.1:") for port in dashboard["ports"])
    assert "bot-state" in compose["volumes"]


def test_the_scale_out_compose_runs_the_bot_and_its_dashboard_on_postgresql() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.postgres.yml").read_text())
    db, bot, dashboard = (compose["services"][name] for name in ("db", "bot", "dashboard"))
    assert db["image"].startswith("postgres:") and "pg_isready" in db["healthcheck"]["test"]
    for service in (bot, dashboard):
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["environment"]["BOT__STORAGE__DB_URL"].startswith("postgresql://bot:${POSTGRES_PASSWORD}@db:")
        assert service["environment"]["BOT__STORAGE__DB_URL"] == bot["environment"]["BOT__STORAGE__DB_URL"]
    assert dashboard["command"][0] == "serve" and bot["command"][0] == "run"
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD" in (REPO / "deploy" / "docker-compose.postgres.yml").read_text()

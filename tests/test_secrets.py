"""Credentials come from the environment and are masked wherever a log
line would carry them, whatever the field is called."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from bot.config import ConfigError
from bot.logging_setup import configure_logging
from bot.secrets import keys_from_env

SECRET = "s3cr3t-value-never-logged"


def test_missing_credential_is_named(monkeypatch) -> None:
    monkeypatch.delenv("BOT_EXCHANGE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="BOT_EXCHANGE_API_KEY"):
        keys_from_env(needs_password=False)
    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    monkeypatch.delenv("BOT_EXCHANGE_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="BOT_EXCHANGE_PASSWORD"):
        keys_from_env(needs_password=True)


def test_secret_values_are_masked_in_log_lines_and_reprs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key-abc")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    keys = keys_from_env(needs_password=False)
    assert SECRET not in repr(keys) and SECRET not in str(keys)
    log_file = tmp_path / "bot.jsonl"
    configure_logging("INFO", log_file, console_level="INFO")
    log = structlog.get_logger("test")
    log.info("request", url=f"https://x/order?secret={SECRET}", note=f"echo {SECRET}", nested={"k": SECRET})
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("crashed")
    text = log_file.read_text() + capsys.readouterr().err
    assert "request" in text and "crashed" in text
    assert SECRET not in text
    assert text.count("***") >= 4

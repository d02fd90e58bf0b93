"""Exchange credentials: read from the environment only, never from the
config file, and scrubbed from every log line by value.

    BOT_EXCHANGE_API_KEY, BOT_EXCHANGE_SECRET, BOT_EXCHANGE_PASSWORD

and the bearer token of `bot serve`'s controls, BOT_API_TOKEN.

The password (okx and others call it a passphrase) is needed only where
ccxt says the exchange requires one."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import ConfigError

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

API_KEY_ENV = "BOT_EXCHANGE_API_KEY"
SECRET_ENV = "BOT_EXCHANGE_SECRET"
PASSWORD_ENV = "BOT_EXCHANGE_PASSWORD"
API_TOKEN_ENV = "BOT_API_TOKEN"  # bot serve's controls
MASK = "***"

# Every credential value read in this process: log lines are scrubbed of them.
_known_values: set[str] = set()


@dataclass(frozen=True)
class ExchangeKeys:
    api_key: str
    secret: str
    password: str | None = None

    def __repr__(self) -> str:  # a stray print or traceback shows no credential
        return "ExchangeKeys(***)"

    __str__ = __repr__

    def ccxt_credentials(self) -> dict[str, str]:
        creds = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            creds["password"] = self.password
        return creds


def credential_names(exchange: object) -> list[str]:
    """The environment variables holding what `exchange` (a ccxt exchange)
    signs with: okx and others take a password (passphrase) too, and a
    wrong one is as likely as a wrong key."""
    needed = getattr(exchange, "requiredCredentials", {}) or {}
    return _names(bool(needed.get("password")))


def _names(needs_password: bool) -> list[str]:
    return [API_KEY_ENV, SECRET_ENV, *([PASSWORD_ENV] if needs_password else [])]


def keys_from_env(needs_password: bool) -> ExchangeKeys:
    """The credentials, or a ConfigError naming the first one missing."""
    for name in _names(needs_password):
        if not os.environ.get(name, "").strip():
            raise ConfigError(
                f"{name}: not set; broker: testnet needs the exchange's credentials "
                "in the environment (never in the config file)"
            )
    keys = ExchangeKeys(
        os.environ[API_KEY_ENV].strip(),
        os.environ[SECRET_ENV].strip(),
        os.environ.get(PASSWORD_ENV, "").strip() or None,
    )
    _known_values.update(v for v in (keys.api_key, keys.secret, keys.password) if v)
    return keys


def api_token() -> str:
    """The bearer token of `bot serve`'s controls ('' when unset), scrubbed
    from every log line like the exchange's credentials."""
    token = os.environ.get(API_TOKEN_ENV, "").strip()
    register_secret(token)
    return token


def register_secret(value: str) -> None:
    """A value read from the environment that no log line may show."""
    if value:
        _known_values.add(value)


def scrub(text: str) -> str:
    """`text` with every known credential value masked."""
    for value in _known_values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_values(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask credential values wherever they appear."""
    if not _known_values:
        return event_dict
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
        elif not isinstance(value, (int, float, bool, type(None))):
            event_dict[key] = scrub(str(value))
    return event_dict


def masked_url(url: str) -> str:
    """A URL as it may be printed: the password masked, in user:password@
    and in a ?password= parameter (libpq takes either)."""
    url = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)

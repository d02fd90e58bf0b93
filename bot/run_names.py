"""Several runs in one PostgreSQL database: each run's tables live in a
schema of its own, `run_<name>` (the run "main" in the database's public
schema), chosen by the connection's search_path. The run is carried in the
database URL itself (`?options=-csearch_path=run_alpha`), so the store,
its step writer, the lease, `bot serve` and every report that opens the
URL see that run's tables and no other's."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

DEFAULT_RUN = "main"
SCHEMA_PREFIX = "run_"
_OPTION = "-csearch_path="
# storage.run's own pattern: the schema name goes into SQL (CREATE SCHEMA).
_SCHEMA = re.compile(r"run_[a-z][a-z0-9_]{0,39}")


def run_url(url: str, run: str) -> str:
    """`url` scoped to `run` (a PostgreSQL URL; "main" leaves it as it is)."""
    if run == DEFAULT_RUN or not url.startswith("postgresql"):
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(_OPTION + SCHEMA_PREFIX + run)}"


def run_schema(url: str) -> str | None:
    """The schema a URL made by run_url points at; None for the default run.
    ValueError for a search_path set in the URL to anything else: it would
    go into SQL as it is, or point the run at tables that are not a run's."""
    for option in parse_qs(urlsplit(url).query).get("options", []):
        for part in option.split():
            if part.startswith(_OPTION):
                schema = part.removeprefix(_OPTION)
                if not _SCHEMA.fullmatch(schema):
                    raise ValueError(
                        "options may set search_path only to run_<name> (lower-case letters, digits, _), "
                        "as storage.run does"
                    )
                return schema
    return None


def run_name(url: str) -> str:
    schema = run_schema(url)
    return schema.removeprefix(SCHEMA_PREFIX) if schema else DEFAULT_RUN

"""One writer per run: a lease on the run's database, taken by every
command that writes its ledger or models (`bot run`, `bot run --fresh`,
`bot train`) before it touches anything, and held until the process ends.

For a SQLite file the lease is an exclusive `flock` on `<db>.lock` beside
it. The kernel drops it when the holder exits, however it exits (SIGKILL
and power loss included), so a stale lease never has to be cleared by
hand. The file also says who holds it (host, pid, since, command), which
is what a refused command prints.

Readers (`bot status`, `bot report`, `bot trades`) take no lease: WAL
mode lets them read while the writer writes. An operator request
(`bot resume`) is a row the daemon itself acts on, so it needs none
either.

Server databases (PostgreSQL) get no lease yet: one daemon per database
is the operator's duty there, and the README says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.config import ConfigError
from bot.timeframes import iso_utc


class LeaseHeld(Exception):
    """Another live process holds the run; the message names it."""


@dataclass
class WriterLease:
    path: Path
    handle: IO[str]

    def release(self) -> None:
        """Give the run back (also done by the kernel when the process exits)."""
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


def lease_file(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def take_lease(db_url: str, command: str, now_ms: int) -> WriterLease | None:
    """The run's lease for `command`, or LeaseHeld naming its holder.
    None where the database is not a SQLite file."""
    from bot.store.store import sqlite_path  # SQLAlchemy: only once a command takes the lease

    db = sqlite_path(db_url)
    if db is None:
        return None
    path = lease_file(db)
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        # Opened without truncating: a refused taker must not wipe the holder's note.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"storage.db_url: cannot write in {db.parent} ({exc.strerror})") from None
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(handle.read())
        handle.close()
        raise LeaseHeld(f"{db} is in use by {holder}; `{command}` was refused and changed nothing") from None
    handle.seek(0)
    handle.truncate()
    handle.write(
        json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": iso_utc(now_ms), "command": command})
    )
    handle.flush()
    return WriterLease(path, handle)


def _holder(note: str) -> str:
    """'bot run (pid 123 on host, since 2026-12-01T20:00:00Z)' from the note."""
    try:
        data = json.loads(note)
        return f"{data['command']} (pid {data['pid']} on {data['host']}, since {data['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process (its lease note is unreadable)"

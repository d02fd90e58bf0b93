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

On PostgreSQL the lease is a session advisory lock, held on a connection
of its own for as long as the process lives: the server drops it when that
connection ends, however the process ends. The connection's
application_name says who holds it, which is what a refused command
prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.config import ConfigError
from bot.db_file_name import one_name
from bot.error_text import first_line
from bot.run_names import run_name
from bot.timeframes import iso_utc


class LeaseHeld(Exception):
    """Another live process holds the run; the message names it, and
    `holder_command` the command holding it when its note says so."""

    def __init__(self, message: str, holder_command: str | None = None) -> None:
        super().__init__(message)
        self.holder_command = holder_command

    @property
    def by_a_daemon(self) -> bool:
        """Held by a running `bot run` (a fresh one too), which reads operator
        requests: live at each bar, a replay when it next starts."""
        return self.holder_command in DAEMON_COMMANDS or self.by_a_replay

    @property
    def by_a_replay(self) -> bool:
        """Held by a running replay: it reads requests only when it starts,
        so that its fills never depend on when a request was made."""
        command = self.holder_command or ""
        return command.endswith(REPLAY_NOTE) and command.removesuffix(REPLAY_NOTE) in DAEMON_COMMANDS


DAEMON_COMMANDS = ("bot run", "bot run --fresh")
REPLAY_NOTE = " (replay)"  # what a replay's lease adds to its command


def daemon_command(fresh: bool, replay: bool) -> str:
    """What `bot run`'s lease says it is: a refused command names it."""
    return ("bot run --fresh" if fresh else "bot run") + (REPLAY_NOTE if replay else "")


@dataclass
class WriterLease:
    path: Path
    handle: IO[str]

    def release(self) -> None:
        """Give the run back (also done by the kernel when the process exits)."""
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


@dataclass
class ServerLease:
    """A PostgreSQL advisory lock, held by an open connection."""

    connection: Any

    def release(self) -> None:
        if not self.connection.closed:
            self.connection.close()  # the server releases a session's locks with it


# pg_try_advisory_lock(classid, objid): classid marks this program's locks,
# objid the run (storage.run, carried in the URL: bot/run_names.py).
LOCK_CLASS = 0x626F74  # "bot"


def run_lock_id(url: str) -> int:
    """A 31-bit id of the URL's run, the same in every process (positive:
    pg_locks shows objid unsigned)."""
    return zlib.crc32(run_name(url).encode()) & 0x7FFFFFFF


def lease_file(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def take_lease(db_url: str, command: str, now_ms: int) -> WriterLease | ServerLease | None:
    """The run's lease for `command`, or LeaseHeld naming its holder.
    None where the database is neither a SQLite file nor PostgreSQL."""
    from bot.store.store import libpq_conninfo, postgres_url, sqlite_path  # SQLAlchemy: only when taken

    db = sqlite_path(db_url)
    if db is None:
        return (
            _server_lease(libpq_conninfo(db_url), run_lock_id(db_url), command, now_ms)
            if postgres_url(db_url)
            else None
        )
    db = one_name(db)
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
        note = handle.read()
        handle.close()
        raise LeaseHeld(
            f"{db} is in use by {_holder(note)}; `{command}` was refused and changed nothing", _command_of(note)
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(
        json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": iso_utc(now_ms), "command": command})
    )
    handle.flush()
    return WriterLease(path, handle)


def _command_of(note: str) -> str | None:
    command = _fields(note).get("command")
    return command if isinstance(command, str) else None


def _holder(note: str) -> str:
    """'bot run (pid 123 on host, since 2026-12-01T20:00:00Z)' from the note."""
    data = _fields(note)
    try:
        return f"{data['command']} (pid {data['pid']} on {data['host']}, since {data['since']})"
    except KeyError:
        return "another process (its lease note is unreadable)"


def _fields(note: str) -> dict:
    """The lease note's fields ({} when it is unreadable)."""
    try:
        data = json.loads(note)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _server_lease(conninfo: str, run: int, command: str, now_ms: int) -> ServerLease:
    import psycopg

    note = f"{command} (pid {os.getpid()} on {socket.gethostname()}, since {iso_utc(now_ms)})"
    try:
        # application_name holds at most 63 bytes: the note, cut if it must be.
        connection = psycopg.connect(
            conninfo, autocommit=True, application_name=note.encode()[:63].decode(errors="ignore")
        )
    except psycopg.Error as exc:
        raise ConfigError(f"storage.db_url: cannot reach the database ({first_line(exc)})") from None
    held = connection.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, run)).fetchone()
    if held and held[0]:
        return ServerLease(connection)
    holder = connection.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND l.granted",
        (LOCK_CLASS, run),
    ).fetchone()
    connection.close()
    who = holder[0] if holder and holder[0] else "another session"
    held_by = who.split(" (pid ", 1)[0] if " (pid " in who else None  # the note as _server_lease writes it
    raise LeaseHeld(f"the run is in use by {who}; `{command}` was refused and changed nothing", held_by)

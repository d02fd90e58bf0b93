"""A model version's files as they were saved: the SHA-256 of each, written
last into the version's directory and checked before anything is loaded.

A file can be damaged and still well formed: a flipped bit in a weight, a
copy cut short at a tensor boundary, a file restored from another version.
Such a model loaded, passed the check that it scores, and traded on
weights nobody trained. A version whose files differ from its digests is
refused like one whose files are missing, so the champion falls back to
the newest earlier version that loads.

Versions saved before digests existed have none and load as before; a
version saved with them says so in its config.json, so losing the record
is not a way around it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DIGESTS = "checksums.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_digests(directory: Path) -> None:
    """Record every file of a version's directory (call once all are written)."""
    sums = {p.name: _sha256(p) for p in _files(directory)}
    (directory / DIGESTS).write_text(json.dumps({"sha256": sums}, indent=2, sort_keys=True))


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name != DIGESTS and not p.name.startswith("."))


def changed_file(directory: Path, expected: bool) -> str | None:
    """What differs from the saved digests (None: nothing). `expected`: the
    version says it was saved with digests (its config.json), so a lost
    record is said, not taken for a version saved before digests."""
    record = directory / DIGESTS
    if not record.exists():
        return f"{record} is missing" if expected else None
    try:
        sums = json.loads(record.read_text())["sha256"]
        saved = {str(name): str(value) for name, value in sums.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"{record} is not a readable record of its files ({type(exc).__name__})"
    if not saved:
        return f"{record} records no file"
    for name, value in sorted(saved.items()):
        problem = _differs(directory, name, value)
        if problem:
            return problem
    unrecorded = [p.name for p in _files(directory) if p.name not in saved]
    if unrecorded:
        return f"{directory / unrecorded[0]} was not there when the version was saved"
    return None


def _differs(directory: Path, name: str, value: str) -> str | None:
    if name in ("", ".", "..") or Path(name).name != name:  # never written here: it would lead elsewhere
        return f"{directory / DIGESTS} names {name!r}, which is not a file of the version"
    path = directory / name
    if not path.is_file():
        return f"{path} is missing"
    try:
        actual = _sha256(path)
    except OSError as exc:
        return f"{path} cannot be read ({type(exc).__name__})"
    if actual != value:
        return f"{path} is not the file that was saved (its SHA-256 differs): damaged, or edited by hand"
    return None

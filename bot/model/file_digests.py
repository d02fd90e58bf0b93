"""A model version's files as they were saved: the SHA-256 of each, written
last into the version's directory and checked before anything is loaded.

A file can be damaged and still well formed: a flipped bit in a weight, a
copy cut short at a tensor boundary, a file restored from another version.
Such a model loaded, passed the check that it scores, and traded on
weights nobody trained. A version whose files differ from its digests is
refused like one whose files are missing, so the champion falls back to
the newest earlier version that loads.

Versions saved before digests existed have none and load as before."""

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
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != DIGESTS)
    sums = {p.name: _sha256(p) for p in files}
    (directory / DIGESTS).write_text(json.dumps({"sha256": sums}, indent=2, sort_keys=True))


def changed_file(directory: Path) -> str | None:
    """What differs from the saved digests (None: nothing, or a version
    saved before digests)."""
    record = directory / DIGESTS
    if not record.exists():
        return None
    try:
        sums = json.loads(record.read_text())["sha256"]
        expected = {str(name): str(value) for name, value in sums.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"{record} is not a readable record of its files ({type(exc).__name__})"
    for name, value in sorted(expected.items()):
        path = directory / name
        if Path(name).name != name:  # a name that leads out of the directory was never written here
            return f"{record} names {name!r}, which is not a file of the version"
        if not path.is_file():
            return f"{path} is missing"
        try:
            actual = _sha256(path)
        except OSError as exc:
            return f"{path} cannot be read ({type(exc).__name__})"
        if actual != value:
            return f"{path} is not the file that was saved (its SHA-256 differs): damaged, or edited by hand"
    return None

"""Files the user asks for are written whole or not at all."""

from __future__ import annotations

import errno
import gzip
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from bot.whole_file import write_whole


def test_a_write_that_fails_half_way_leaves_the_file_that_was_there(tmp_path: Path) -> None:
    """A full disk used to leave a truncated CSV in place of a good one."""
    out = tmp_path / "bars.csv"
    out.write_text("timestamp,open\n1,2\n")

    def disk_fills(temporary: Path) -> None:
        temporary.write_text("timestamp,open\n1,2\n3,")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_whole(out, disk_fills)
    assert out.read_text() == "timestamp,open\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.csv"]  # no part-written file left beside it


def test_a_whole_write_replaces_the_file_and_keeps_its_compression(tmp_path: Path) -> None:
    out = tmp_path / "bars.csv.gz"
    out.write_bytes(b"old")
    frame = pd.DataFrame({"timestamp": [1, 2], "close": [3.0, 4.0]})
    write_whole(out, lambda temporary: frame.to_csv(temporary, index=False))
    assert gzip.decompress(out.read_bytes()).decode() == "timestamp,close\n1,3.0\n2,4.0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.csv.gz"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umasks_permissions_and_a_replaced_one_keeps_its_own(tmp_path: Path) -> None:
    """The temporary file is made 0600: every report came out readable by its owner alone."""
    was = os.umask(0o022)
    try:
        write_whole(tmp_path / "new.html", lambda temporary: temporary.write_text("<p>"))
        assert mode(tmp_path / "new.html") == 0o644
        shared = tmp_path / "shared.csv"
        shared.write_text("old")
        shared.chmod(0o664)
        write_whole(shared, lambda temporary: temporary.write_text("new"))
        assert (mode(shared), shared.read_text()) == (0o664, "new")
    finally:
        os.umask(was)


def test_a_symbolic_link_is_written_through_as_the_shell_does(tmp_path: Path) -> None:
    """Renamed over, the link itself became the file (a link into a venv replaced the interpreter's link)."""
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "latest.json"
    target.write_text("{}")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    write_whole(link, lambda temporary: temporary.write_text('{"new": 1}'))
    assert link.is_symlink() and target.read_text() == '{"new": 1}'
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["latest.json"]

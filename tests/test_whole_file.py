"""Files the user asks for are written whole or not at all."""

from __future__ import annotations

import errno
import gzip
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

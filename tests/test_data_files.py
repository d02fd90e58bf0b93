"""A data file the replay cannot trust is refused in one line, exit 2,
before anything runs: never half a file replayed to "replay complete"."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from helpers import BUNDLED_BTC, write_config
from test_config_errors import run_bot

from bot.market.csv_format import read_ohlcv_csv


def sample(n: int = 3000) -> pd.DataFrame:
    return pd.read_csv(BUNDLED_BTC).iloc[-n:]


def write_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def write_header_only(path: Path) -> Path:
    path.write_text("timestamp,open,high,low,close,volume\n")
    return path


def write_truncated_gzip(path: Path) -> Path:
    whole = gzip.compress(sample().to_csv(index=False).encode())
    path.with_suffix(".gz").write_bytes(whole[: len(whole) // 2])
    return path.with_suffix(".gz")


def cut_in_its_last_number() -> str:
    """The sample's text, cut in its last row's volume: no newline after it."""
    text = sample().to_csv(index=False).rstrip("\n")
    return text[: text.rindex(",") + 2]  # the volume's first digit: read as a whole volume of that digit


def write_cut_last_row(path: Path) -> Path:
    path.write_text(cut_in_its_last_number())
    return path


def write_cut_last_row_gzip(path: Path) -> Path:
    """A whole gzip stream of a cut text (gzipped after the cut): the stream
    itself says nothing is missing."""
    path.with_suffix(".gz").write_bytes(gzip.compress(cut_in_its_last_number().encode()))
    return path.with_suffix(".gz")


def write_seconds(path: Path) -> Path:
    frame = sample()
    frame["timestamp"] //= 1000
    frame.to_csv(path, index=False)
    return path


def write_beyond_64_bits(path: Path) -> Path:
    lines = sample().to_csv(index=False).splitlines()
    lines[100] = "99999999999999999999999," + lines[100].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_short_row(path: Path) -> Path:
    lines = sample().to_csv(index=False).splitlines()
    lines.insert(100, "1,2,3")  # data row 100
    path.write_text("\n".join(lines) + "\n")
    return path


def write_off_the_hour(path: Path) -> Path:
    frame = sample()
    frame["timestamp"] += 1234  # still an hour apart, every one 1.234 s past the hour
    frame.to_csv(path, index=False)
    return path


def write_fraction(path: Path) -> Path:
    lines = sample().to_csv(index=False).splitlines()
    ts, rest = lines[100].split(",", 1)
    lines[100] = f"{ts}.5,{rest}"  # data row 100: used to be cut to the whole millisecond without a word
    path.write_text("\n".join(lines) + "\n")
    return path


def write_iso_dates(path: Path) -> Path:
    frame = sample()
    frame["timestamp"] = pd.to_datetime(frame.timestamp, unit="ms", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.to_csv(path, index=False)
    return path


def write_upper_case_header(path: Path) -> Path:
    frame = sample()
    frame.columns = [name.upper() if name != "open" else " open" for name in frame.columns]
    frame.to_csv(path, index=False)
    return path


def write_huge_token(path: Path) -> Path:
    lines = sample().to_csv(index=False).splitlines()
    lines[100] = "x" * 5_000_000 + "," + lines[100].split(",", 1)[1]  # printed whole: a 5 MB "line"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_two_markets(path: Path) -> Path:
    btc = sample().assign(symbol="BTC/USDT")
    eth = btc.assign(symbol="ETH/USDT", close=btc.close / 14)  # first: its copy of each time won
    pd.concat([eth, btc]).to_csv(path, index=False)
    return path


CASES = {"empty": (write_empty, "the file is empty"),
         "two-markets": (write_two_markets, "holds 2 markets in its symbol column (BTC/USDT, ETH/USDT)"),
         "huge-token": (write_huge_token, "more characters) is not a number"),
         "header-only": (write_header_only, "a header and no bars"),
         "truncated-gzip": (write_truncated_gzip, "truncated"),
         "cut-last-row": (write_cut_last_row, "row 3000: '"),  # read as a bar with a volume of one digit
         "cut-last-row-gzip": (write_cut_last_row_gzip, "does not end in a newline, as a file cut short does"),
         "seconds": (write_seconds, "looks like seconds"),
         "beyond-64-bits": (write_beyond_64_bits, "a timestamp too large to be milliseconds"),
         "short-row": (write_short_row, "row 100: timestamp 1 looks like seconds"),
         "fraction": (write_fraction, "row 100: timestamp "),
         "iso-dates": (write_iso_dates, "row 1: timestamp '2024-08-"),  # said "non-numeric values" alone
         # Said "missing columns timestamp, open, ..." of a header that has them all, in capitals.
         "upper-case-header": (write_upper_case_header, "(the header has 'TIMESTAMP', ' open', 'HIGH', 'LOW', 'CLOSE', "
                               "'VOLUME': the names are lower case, with no spaces)"),
         "off-the-hour": (write_off_the_hour, "3000 of its 3000 bars do not open on a whole 60-minute boundary")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_untrustworthy_data_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    write, says = CASES[case]
    data = write(tmp_path / "bars.csv")
    config = write_config(tmp_path, {"replay": {"data": str(data), "start": None, "end": None}})
    result = run_bot("run", "-c", str(config), "--no-progress")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and says in lines[0] and str(data) in lines[0], result.stderr[:2_000]
    assert len(result.stderr) < 2_000
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "bot.sqlite").exists()


def test_a_timeframe_the_data_does_not_have_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "bars.csv"
    sample().to_csv(data, index=False)
    config = write_config(tmp_path, {"timeframe": "5m", "replay": {"data": str(data), "start": None, "end": None}})
    result = run_bot("run", "-c", str(config), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert "60 minutes apart, but timeframe is 5 minutes" in result.stderr.strip()
    assert len(result.stderr.strip().splitlines()) == 1


def test_whole_milliseconds_written_with_a_point_are_read_as_they_are(tmp_path: Path) -> None:
    # Some tools write every number as a float: 1704067200000.0 is a whole millisecond.
    frame = sample(50)
    path = tmp_path / "bars.csv"
    frame.assign(timestamp=frame.timestamp.astype(float)).to_csv(path, index=False)
    assert read_ohlcv_csv(path).timestamp.tolist() == frame.timestamp.tolist()


@pytest.mark.parametrize("name", ["bars.csv", "bars.txt", "bars.csv.gz"])
def test_a_gzip_file_is_read_by_what_it_holds_whatever_its_name(name: str, tmp_path: Path) -> None:
    """A gzip named .csv was refused as "not a readable CSV (UnicodeDecodeError)"."""
    frame = sample(50)
    path = tmp_path / name
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    assert read_ohlcv_csv(path).timestamp.tolist() == frame.timestamp.tolist()

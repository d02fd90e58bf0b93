"""`make bench-peer`: our walk-forward against FreqAI's on the same task
(../shared/peers/freqtrade: BTC/USDT 1h, trading 2024, a 180-day window, a
retrain every 30 days), in one session.

The machine is shared and its speed drifts, so the two sides alternate,
ours then the peer's, REPEATS times (default 2), each single-threaded
(OMP_NUM_THREADS=1), and the comparison is the median of the pairs' ratios.
Writes the `peer` key of bench/results.json, leaving the others as they are.

The peer's run.sh builds its own venv under $FTPEER_DIR the first time (pip,
minutes, ~2.5 GB); FTPEER_DIR defaults to /tmp/ftpeer so it is built once.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from pathlib import Path

from measure import bench_env, load_average, medians, provenance, ratio, run_child
from replays import TIMEOUT_S, identical, one_walk_forward

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "peers" / "freqtrade" / "run.sh"
PEER_DIR = Path(os.environ.get("FTPEER_DIR", "/tmp/ftpeer"))
REPEATS = int(os.environ.get("REPEATS", "2"))
INSTALL_TIMEOUT_S = 3600  # pip install of torch and freqtrade on a slow link
SIDE_KEYS = ("cpu_s", "wall_s", "peak_rss_mb", "trades", "total_return")


def peer_env() -> dict[str, str]:
    """run.sh's own knobs: one repeat per call (we pair the calls), one thread."""
    return bench_env(FTPEER_DIR=str(PEER_DIR), REPEATS="1", OMP_NUM_THREADS="1")


def run_peer(log: str) -> float:
    """run.sh once, to the end; its whole CPU. That is not FreqAI's figure:
    run.sh also converts the data and runs rsi_full. summary.json has it."""
    run = run_child(["bash", str(PEER)], cwd=PEER.parent, env=peer_env(), log=PEER_DIR / log, timeout_s=TIMEOUT_S)
    return run.cpu_s


def ensure_installed() -> None:
    """The first run.sh builds the venv: done once, outside the measured runs."""
    if not (PEER_DIR / "venv" / "bin" / "freqtrade").exists():
        print(f"building the peer's venv under {PEER_DIR} (once, minutes)", file=sys.stderr, flush=True)
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        log = PEER_DIR / "install.log"
        run_child(["bash", str(PEER)], cwd=PEER.parent, env=peer_env(), log=log, timeout_s=INSTALL_TIMEOUT_S)


def number(text: str) -> float:
    """A figure of run.sh's summary, its unit dropped: '21.90s' -> 21.9."""
    found = re.match(r"-?\d+(\.\d+)?", text.strip())
    if found is None:
        raise ValueError(f"not a figure: {text!r}")
    return float(found.group())


def one_peer() -> dict:
    """FreqAI's walk-forward, figures of the freqtrade process alone as
    run.sh measures it (/usr/bin/time -v)."""
    summary = PEER_DIR / "summary.json"
    summary.unlink(missing_ok=True)  # a failed run must not pass for the last good one
    whole_cpu = run_peer("bench.log")
    row = json.loads(summary.read_text())["freqai_2024_r1"]
    return {
        "cpu_s": number(row["cpu"]),
        "wall_s": number(row["wall"]),
        "peak_rss_mb": number(row["peakRSS"]),
        "trades": int(number(row["trades"])),
        "total_return": round(number(row["profit_total"]) / 100, 4),
        "run_sh_cpu_s": whole_cpu,
    }


def one_pair() -> dict:
    load = load_average()
    ours = one_walk_forward()
    peer = one_peer()
    return {
        "load_average_at_start": load,
        "ours": ours,
        "peer": peer,
        "cpu_ratio": ratio(ours["cpu_s"], peer["cpu_s"]),
        "wall_ratio": ratio(ours["wall_s"], peer["wall_s"]),
    }


def comparison(pairs: list[dict]) -> dict:
    ours, peers = [p["ours"] for p in pairs], [p["peer"] for p in pairs]
    return {
        "ours_median": medians(ours, SIDE_KEYS),
        "peer_median": medians(peers, SIDE_KEYS),
        # Paired: each ratio compares two runs that shared the machine's mood.
        "ratio_ours_over_peer": {
            "cpu": round(statistics.median(p["cpu_ratio"] for p in pairs), 3),
            "wall": round(statistics.median(p["wall_ratio"] for p in pairs), 3),
        },
        "ours_identical_run_to_run": identical(ours),
        "peer_identical_run_to_run": len({(p["trades"], p["total_return"]) for p in peers}) == 1,
    }


def slim(pair: dict) -> dict:
    """A pair as stored: our report is long, its digest says as much."""
    return {**pair, "ours": {k: v for k, v in pair["ours"].items() if k != "report"}}


def write_peer(result: dict) -> None:
    out = REPO / "bench" / "results.json"
    old = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**old, "peer": result}, indent=2) + "\n")


def main() -> int:
    if not PEER.exists():
        print(f"bench-peer: {PEER} not found, nothing to compare with")
        return 0
    ensure_installed()
    where = provenance(REPO)
    pairs = []
    for i in range(REPEATS):
        print(f"pair {i + 1} of {REPEATS}: ours, then FreqAI", file=sys.stderr, flush=True)
        pairs.append(one_pair())
    result = {
        "measured": where,
        "task": "BTC/USDT 1h, trading 2024, 4,320-bar training window, retrain every 30 days, OMP_NUM_THREADS=1; "
        "ours: bot run (bench/replays.py walk_forward_config); peer: run.sh freqai_2024 (freqtrade + FreqAI)",
        "order": "ours, peer, ours, peer...",
        **comparison(pairs),
        "pairs": [slim(p) for p in pairs],
    }
    write_peer(result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

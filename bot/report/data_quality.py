"""Event kinds that say something about the data, with their names for
people: what `bot status`, /metrics, the dashboard and `bot backtest` count."""

DATA_QUALITY = [
    ("bar_rejected", "rejected bars"),
    ("bar_conflict", "conflicting duplicates"),
    ("gap_pending", "gaps waited for"),
    ("gap_unfilled", "gaps unfilled"),
    ("extreme_move", "extreme moves"),
    ("fetch_failed", "failed fetches"),
]


def data_quality_counts(counts: dict[str, int]) -> dict[str, int]:
    """Each data-quality kind's count among a run's event counts, 0 for none."""
    return {kind: counts.get(kind, 0) for kind, _ in DATA_QUALITY}


def data_quality_line(counts: dict[str, int]) -> str:
    """'rejected bars 0, conflicting duplicates 0, ...' as `bot status` shows it."""
    return ", ".join(f"{label} {counts.get(kind, 0)}" for kind, label in DATA_QUALITY)


# Flagged, not faults: a real market move beyond market.extreme_move_sigmas,
# stepped and traded like any other bar.
FLAGGED_ONLY = ("extreme_move",)


def data_quality_note(counts: dict[str, int]) -> str | None:
    """The sentence under a backtest's table, None for clean data. Clean 4h
    bars with two extreme moves were said to have "had faults", and the
    figures to be "of the bars that passed", though every bar had."""
    if not any(counts.values()):
        return None
    where = "--out-dir keeps the strategy variant's events, which name each."
    if any(n for kind, n in counts.items() if kind not in FLAGGED_ONLY):
        return f"The data had faults ({data_quality_line(counts)}): the figures are of the bars that passed; {where}"
    moves = counts.get("extreme_move", 0)
    return (
        f"The data had {moves} extreme move{'s' * (moves != 1)} (beyond market.extreme_move_sigmas), flagged and "
        f"traded as real market moves; {where}"
    )

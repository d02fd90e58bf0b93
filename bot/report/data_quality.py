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

"""Event kinds that say something about the data, with their names for
people: what `bot status`, /metrics and the dashboard count."""

DATA_QUALITY = [
    ("bar_rejected", "rejected bars"),
    ("bar_conflict", "conflicting duplicates"),
    ("gap_pending", "gaps waited for"),
    ("gap_unfilled", "gaps unfilled"),
    ("extreme_move", "extreme moves"),
    ("fetch_failed", "failed fetches"),
]

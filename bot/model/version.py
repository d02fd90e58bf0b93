"""What the run knows of one model version, apart from its files: the
registry writes it, the store keeps it, the CLI shows it. A plain value, so
none of them needs the database's tables to speak of a version."""

from __future__ import annotations

from dataclasses import dataclass

from bot.json_values import stored_object


@dataclass(frozen=True, slots=True)
class ModelVersion:
    version: str
    created_ts: int  # clock time of the retrain (simulated in replay)
    train_from_ts: int
    train_to_ts: int
    n_train: int
    n_val: int
    metrics_json: str
    status: str  # candidate, champion, rejected, retired (see the registry)
    path: str  # relative to the models directory
    config_hash: str
    kind: str = "lstm"
    # Rolling scores of its predictions once their bars closed (see LiveScore).
    live_n: int = 0
    live_accuracy: float | None = None
    live_auc: float | None = None

    def metrics(self) -> dict:
        """The stored metrics; {} when none were stored or the stored text
        is damaged (not a JSON object). A reader (`bot models`, the page,
        /metrics) then shows the version without them instead of failing
        on one bad row; `metrics_damaged` says which case it was."""
        return (stored_object(self.metrics_json) if self.metrics_json else None) or {}

    @property
    def metrics_damaged(self) -> bool:
        return bool(self.metrics_json) and stored_object(self.metrics_json) is None

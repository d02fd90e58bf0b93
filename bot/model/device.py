"""Which torch device trains: CUDA when there is one, then Apple's MPS,
then the CPU. Scoring runs on the CPU, where batch-1 latency is lowest."""

from __future__ import annotations

import torch

from bot.config import ConfigError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def pick_device(preference: str) -> torch.device:
    available = {"cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if preference in available and not available[preference]:
        raise ConfigError(f"model.device: {preference} requested but torch does not see it")
    if preference == "auto":
        preference = next((name for name in ("cuda", "mps") if available[name]), "cpu")
    return torch.device(preference)

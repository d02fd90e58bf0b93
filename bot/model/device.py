"""Which torch device trains: CUDA when there is one, then Apple's MPS,
then the CPU. Scoring runs on the CPU, where batch-1 latency is lowest.

torch is imported when a device is asked for, not with this module: it
costs two seconds of startup, and a run that never trains on anything but
the CPU need not pay them to hear so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import ConfigError

if TYPE_CHECKING:
    import torch


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def check_device(preference: str) -> None:
    """Refuse a device torch cannot see; "auto" and "cpu" always exist."""
    if preference in ("auto", "cpu"):
        return
    pick_device(preference)


def pick_device(preference: str) -> torch.device:
    import torch

    available = {"cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if preference in available and not available[preference]:
        raise ConfigError(f"model.device: {preference} requested but torch does not see it")
    if preference == "auto":
        preference = next((name for name in ("cuda", "mps") if available[name]), "cpu")
    return torch.device(preference)

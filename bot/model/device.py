"""Which torch device to run on: CUDA when there is one, else the CPU."""

from __future__ import annotations

import torch

from bot.config import ConfigError


def pick_device(preference: str) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("model.device: cuda requested but torch sees no CUDA device")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")

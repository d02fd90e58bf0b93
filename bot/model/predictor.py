"""A trained model ready to score windows: network, scaler and version."""

from __future__ import annotations

import numpy as np
import torch

from bot.model.lstm import LSTMClassifier
from bot.model.scaler import Scaler


class Predictor:
    def __init__(self, module: LSTMClassifier, scaler: Scaler, seq_len: int, version: str) -> None:
        self.module = module.eval()
        self.scaler = scaler
        self.seq_len = seq_len
        self.version = version

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(batch, seq_len, features) raw vectors -> (batch,) P(next close up)."""
        x = torch.from_numpy(self.scaler.transform(windows).astype(np.float32))
        with torch.inference_mode():
            return torch.sigmoid(self.module(x)).double().numpy()

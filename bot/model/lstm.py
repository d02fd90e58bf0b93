"""The network: an LSTM over a window of feature vectors and a linear head
on its last hidden state, giving the logit of P(next close > this close)."""

from __future__ import annotations

import torch
from torch import nn


class LSTMClassifier(nn.Module):
    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features, hidden_size, num_layers=num_layers, batch_first=True,
            # torch applies dropout between stacked layers only.
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, features) -> (batch,) logits."""
        out, _ = self.lstm(windows)
        return self.head(out[:, -1]).squeeze(-1)

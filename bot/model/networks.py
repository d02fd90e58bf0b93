"""The recurrent networks: an LSTM (the product) or a GRU (a baseline) over a
window of feature vectors, and a linear head on the last hidden state. One
output per window: a logit for the direction target, a (scaled) return for
the return target."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentNet(nn.Module):
    def __init__(self, cell: str, n_features: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn = CELLS[cell](
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # torch applies dropout between stacked layers only.
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, features) -> (batch,)"""
        out, _ = self.rnn(windows)
        return self.head(out[:, -1]).squeeze(-1)

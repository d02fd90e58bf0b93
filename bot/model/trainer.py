"""Trains the LSTM: Adam on binary cross-entropy, early stopping on the
validation loss, best weights kept. Deterministic on the CPU for a seed."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bot.config import ModelConfig
from bot.model.dataset import TrainingSet
from bot.model.device import pick_device
from bot.model.lstm import LSTMClassifier
from bot.model.metrics import classification_metrics


@dataclass
class TrainedModel:
    module: LSTMClassifier
    metrics: dict


@contextmanager
def torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _predict(module: nn.Module, x: torch.Tensor, batch: int = 4096) -> np.ndarray:
    module.eval()
    with torch.inference_mode():
        logits = torch.cat([module(x[i:i + batch]) for i in range(0, len(x), batch)])
    return torch.sigmoid(logits).double().cpu().numpy()


def _epoch(module, optimizer, x, y, batch_size, generator) -> float:
    module.train()
    order = torch.randperm(len(x), generator=generator)  # within training windows only
    total = 0.0
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        loss = nn.functional.binary_cross_entropy_with_logits(module(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)


def train_lstm(data: TrainingSet, cfg: ModelConfig, seed: int) -> TrainedModel:
    started = time.perf_counter()
    device = pick_device(cfg.device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    module = LSTMClassifier(data.x_train.shape[2], cfg.hidden_size, cfg.num_layers, cfg.dropout).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    x_train, y_train = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    x_val = torch.from_numpy(data.x_val).to(device)

    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    with torch_threads(cfg.threads):
        for epoch in range(1, cfg.epochs + 1):
            train_loss = _epoch(module, optimizer, x_train, y_train, cfg.batch_size, generator)
            val_loss = classification_metrics(_predict(module, x_val), data.y_val)["val_loss"]
            if val_loss < best_loss:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        module.load_state_dict(best_state)
        metrics = classification_metrics(_predict(module, x_val), data.y_val)
    metrics.update(
        train_loss_last=train_loss, best_epoch=best_epoch, epochs_run=epoch,
        n_train=len(data.x_train), n_val=len(data.x_val),
        train_seconds=round(time.perf_counter() - started, 3),
    )
    return TrainedModel(module.cpu().eval(), metrics)

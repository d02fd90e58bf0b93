"""Trains a recurrent net: Adam, early stopping on the validation loss, the
best weights kept. Binary cross-entropy for the classification head; mean
squared error on standardised log returns for the regression head. Deterministic
on the CPU for a seed and a thread count."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bot.config import ModelConfig
from bot.model.adam import Adam
from bot.model.dataset import TrainingSet
from bot.model.device import pick_device


@contextmanager
def torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    train_loss_last: float
    val_loss_best: float
    train_seconds: float


def net_outputs(net: nn.Module, x: torch.Tensor, batch: int = 4096) -> np.ndarray:
    net.eval()
    with torch.inference_mode():
        out = torch.cat([net(x[i : i + batch]) for i in range(0, len(x), batch)])
    return out.double().cpu().numpy()


def _loss(classifier: bool):
    if classifier:
        return nn.functional.binary_cross_entropy_with_logits
    return nn.functional.mse_loss


def _epoch(net, optimizer, loss_fn, x, y, batch_size, generator) -> float:
    net.train()
    order = torch.randperm(len(x), generator=generator)  # within training windows only
    total = 0.0
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        loss = loss_fn(net(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)


def fit_network(
    net: nn.Module, data: TrainingSet, y_train: np.ndarray, y_val: np.ndarray, cfg: ModelConfig, seed: int
) -> FitResult:
    """Fit in place; `y_*` are the training targets in the net's own units."""
    started = time.perf_counter()
    device = pick_device(cfg.device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net.to(device)
    optimizer = Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = _loss(cfg.is_classifier)
    x_train = torch.from_numpy(data.x_train).to(device)
    y_train_t = torch.from_numpy(y_train.astype(np.float32)).to(device)
    x_val = torch.from_numpy(data.x_val).to(device)
    y_val_t = torch.from_numpy(y_val.astype(np.float32)).to(device)

    best_loss, best_state, best_epoch, stale, train_loss = float("inf"), None, 0, 0, float("nan")
    with torch_threads(cfg.threads):
        for epoch in range(1, cfg.epochs + 1):
            train_loss = _epoch(net, optimizer, loss_fn, x_train, y_train_t, cfg.batch_size, generator)
            net.eval()
            with torch.inference_mode():
                val_loss = float(loss_fn(net(x_val), y_val_t))
            if val_loss < best_loss:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
    assert best_state is not None, "no epoch had a finite validation loss"
    net.load_state_dict(best_state)
    net.cpu().eval()
    return FitResult(best_epoch, epoch, train_loss, best_loss, round(time.perf_counter() - started, 3))

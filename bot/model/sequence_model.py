"""The LSTM (and the GRU baseline) behind the model interface: fit on
scaled windows, score windows, save and load.

Weights are saved as a state dict (loaded with weights_only=True, so a
tampered file cannot run code). An ONNX export of the same net is saved
beside them: ONNX Runtime scores a batch-1 window 2-3x faster than torch
eager on a CPU, and loading an ONNX graph runs no Python either.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from bot.config import ModelConfig
from bot.model.dataset import TrainingSet
from bot.model.networks import RecurrentNet
from bot.model.trainer import fit_network, net_outputs

try:  # optional: the torch path is the fallback
    import onnxruntime
except ImportError:  # pragma: no cover - exercised where onnxruntime is absent
    onnxruntime = None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class SequenceModel:
    """Scores are P(label) for the classification head, log returns for the regression head."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        self.cfg = cfg
        self.n_features = n_features
        self.net = self._new_net()
        self.return_std = 1.0  # return targets are learnt standardised
        self._session = None
        # The ONNX graph of these very weights, once exported or read: a
        # recalibrated champion is saved again under a new version with its
        # weights untouched, and exporting them anew costs a tenth of a second.
        self._onnx: bytes | None = None

    def _new_net(self) -> RecurrentNet:
        cfg = self.cfg
        return RecurrentNet(cfg.kind, self.n_features, cfg.hidden_size, cfg.num_layers, cfg.dropout)

    # -- training ------------------------------------------------------------

    def fit(self, data: TrainingSet, seed: int) -> dict:
        torch.manual_seed(seed)  # the initial weights come from the seed too
        self.net = self._new_net()
        self._onnx = self._session = None
        if self.cfg.is_classifier:
            y_train, y_val = data.y_train, data.y_val
        else:
            r_train, r_val = np.log1p(data.r_train), np.log1p(data.r_val)
            self.return_std = float(r_train.std()) or 1.0
            y_train, y_val = r_train / self.return_std, r_val / self.return_std
        result = fit_network(self.net, data, y_train, y_val, self.cfg, seed)
        return {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "train_loss_last": result.train_loss_last,
            "train_seconds": result.train_seconds,
        }

    # -- scoring ---------------------------------------------------------------

    def score(self, x: np.ndarray) -> np.ndarray:
        """(batch, seq_len, features) scaled float32 -> (batch,) scores."""
        if self._session is not None:
            out = self._session.run(None, {"windows": x})[0].astype(np.float64)
        else:
            out = net_outputs(self.net, torch.from_numpy(x))
        return _sigmoid(out) if self.cfg.is_classifier else out * self.return_std

    # -- files -------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        torch.save(self.net.state_dict(), directory / "weights.pt")
        (directory / "net.onnx").write_bytes(self._onnx_bytes())
        (directory / "return_std.txt").write_text(repr(self.return_std))

    @classmethod
    def load(cls, directory: Path, cfg: ModelConfig, n_features: int) -> SequenceModel:
        model = cls(cfg, n_features)
        state = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        model.net.load_state_dict(state)
        model.net.eval()
        model.return_std = float((directory / "return_std.txt").read_text())
        model._onnx = (directory / "net.onnx").read_bytes()
        if cfg.runtime != "torch" and onnxruntime is not None:
            model._session = _onnx_session(model._onnx)
        elif cfg.runtime == "onnx":
            raise RuntimeError("model.runtime is onnx but onnxruntime is not installed")
        return model

    def _onnx_bytes(self) -> bytes:
        if self._onnx is None:
            self._onnx = self._export_onnx()
        return self._onnx

    def _export_onnx(self) -> bytes:
        buffer = io.BytesIO()
        example = torch.zeros(1, self.cfg.seq_len, self.n_features)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on RNN batch sizes
            torch.onnx.export(
                self.net.eval(),
                (example,),
                cast(Any, buffer),  # torch annotates f as a path; the legacy exporter writes to a file object too
                input_names=["windows"],
                output_names=["score"],
                dynamic_axes={"windows": {0: "batch"}, "score": {0: "batch"}},
                dynamo=False,
            )
        return buffer.getvalue()


def _onnx_session(graph: bytes):
    options = onnxruntime.SessionOptions()
    # One thread: batch-1 scoring is latency-bound, and a fixed thread count
    # keeps the results the same run to run.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

"""An engine with a real champion model whose database commit does nothing:
what the bar-step latency figure measures."""

from __future__ import annotations

from pathlib import Path

from bot.broker import PaperBroker
from bot.clock import SimulatedClock
from bot.config import Config, ModelConfig
from bot.domain import Bar
from bot.engine import Engine
from bot.ledger import Ledger
from bot.market.csv_format import read_ohlcv_csv
from bot.model.dataset import build_training_set
from bot.model.predictor import Predictor
from bot.model.registry import Candidate, ModelRegistry
from bot.model.sequence_model import SequenceModel
from bot.risk import RiskManager
from bot.store import Store
from bot.strategy import load_strategy

WARM_BARS = 9_000


class NullStore:
    def commit_step(self, rec) -> None:
        pass


def engine_without_database(repo: Path, tmp: Path) -> tuple[Engine, list[Bar]]:
    cfg = Config(base_dir=str(repo))
    frame = read_ohlcv_csv(repo / "data" / "BTC_USDT-1h.csv.gz")
    bars = [Bar("BTC/USDT", int(r.timestamp), r.open, r.high, r.low, r.close, r.volume) for r in frame.itertuples()]
    clock = SimulatedClock()
    engine = Engine(symbols=["BTC/USDT"], store=NullStore(), broker=PaperBroker(cfg.paper, cfg.timeframe_ms),
                    risk=RiskManager(cfg.risk, cfg.paper, cfg.timeframe),
                    strategy=load_strategy("threshold", repo / "strategies", {"enter_above": 0.52, "exit_below": 0.5}),
                    ledger=Ledger(cash=10_000), clock=clock, seq_len=cfg.model.seq_len,
                    warmup_bars=cfg.features.warmup_bars, history_bars=cfg.retrain.train_window_bars,
                    timeframe_ms=cfg.timeframe_ms)
    for bar in bars[:WARM_BARS]:
        engine.warm_up(bar)
    engine.set_predictor(_champion(cfg.model, engine, tmp))
    return engine, bars[WARM_BARS:WARM_BARS + 5_000]


def _champion(cfg: ModelConfig, engine: Engine, tmp: Path) -> Predictor:
    """Trained briefly and loaded back through the registry, as the daemon
    scores with it (ONNX Runtime where installed)."""
    quick = cfg.model_copy(update={"epochs": 1})
    data = build_training_set(engine.training_series(8_760), quick.seq_len, quick.val_fraction)
    model = SequenceModel(quick, data.x_train.shape[2])
    metrics = model.fit(data, seed=0)
    predictor = Predictor(model, data.scaler, data.columns, quick.seq_len, "bench")
    store = Store(f"sqlite:///{tmp / 'bench.sqlite'}")
    registry = ModelRegistry(store, tmp / "models")
    row = registry.register(Candidate(predictor, quick, {**metrics, "n_train": 1, "n_val": 1}, 0, 0),
                            created_ts=0, config_hash="bench", champion=True)
    return registry.load(row)

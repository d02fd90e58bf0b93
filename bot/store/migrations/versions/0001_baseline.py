"""The schema as it stood when migrations began (schema version 6 of the
run_meta row before them): every table of a run.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bars",
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "ts"),
    )
    op.create_table(
        "candles",
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("timeframe", sa.String(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Float(), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "ts"),
    )
    op.create_table(
        "equity",
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("cash", sa.Float(), nullable=False),
        sa.Column("position_value", sa.Float(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.Column("realized_pnl", sa.Float(), nullable=False),
        sa.Column("unrealized_pnl", sa.Float(), nullable=False),
        sa.Column("fees_paid", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ts"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=True),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("data_json", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_events_kind"), "events", ["kind"], unique=False)
    op.create_index(op.f("ix_events_ts"), "events", ["ts"], unique=False)
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.Float(), nullable=False),
        sa.Column("trade_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_fills_order_id"), "fills", ["order_id"], unique=False)
    op.create_index(op.f("ix_fills_symbol"), "fills", ["symbol"], unique=False)
    op.create_index(op.f("ix_fills_ts"), "fills", ["ts"], unique=False)
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("train_from_ts", sa.BigInteger(), nullable=False),
        sa.Column("train_to_ts", sa.BigInteger(), nullable=False),
        sa.Column("n_train", sa.Integer(), nullable=False),
        sa.Column("n_val", sa.Integer(), nullable=False),
        sa.Column("metrics_json", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("config_hash", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("live_n", sa.Integer(), nullable=False),
        sa.Column("live_accuracy", sa.Float(), nullable=True),
        sa.Column("live_auc", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("stop_price", sa.Float(), nullable=True),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("closed_ts", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("filled_qty", sa.Float(), nullable=False),
        sa.Column("not_before_ts", sa.BigInteger(), nullable=False),
        sa.Column("slippage_bps", sa.Float(), nullable=False),
        sa.Column("group", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_orders_symbol"), "orders", ["symbol"], unique=False)
    op.create_table(
        "positions",
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("avg_entry", sa.Float(), nullable=False),
        sa.Column("mark", sa.Float(), nullable=False),
        sa.Column("realized_pnl", sa.Float(), nullable=False),
        sa.Column("stop_price", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("ts", "symbol"),
    )
    op.create_table(
        "predictions",
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("prob_up", sa.Float(), nullable=False),
        sa.Column("predicted_return", sa.Float(), nullable=True),
        sa.Column("expected_edge", sa.Float(), nullable=True),
        sa.Column("volatility_forecast", sa.Float(), nullable=True),
        sa.Column("regime", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=True),
        sa.Column("realized_return", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("symbol", "ts"),
    )
    op.create_table(
        "run_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("run_meta")
    op.drop_table("predictions")
    op.drop_table("positions")
    op.drop_table("orders")
    op.drop_table("model_versions")
    op.drop_table("fills")
    op.drop_table("events")
    op.drop_table("equity")
    op.drop_table("candles")
    op.drop_table("bars")

"""The default strategy: trade only when the model's expected edge pays for
the trade.

The model says what it expects its target to return (`expected_edge`: a
long held over its horizon, or the triple-barrier trade), before costs. A
round trip costs `round_trip_cost` (fees and slippage, both sides). So:

- flat: enter long when edge > cost + margin + confidence x edge_error
  (the edge's standard error: an edge estimated from a year of overlapping
  labels is uncertain, and a random walk's chance drift must not pass for
  one); otherwise abstain, and say why (edge below cost, a turbulent
  regime, no prediction yet). Either way the reason gives the cost, the
  margin and the doubt apart, and how many standard errors the edge
  stands beyond the cost and margin (an exit's reason, likewise);
- long: hold for at least `min_hold_bars` (the model's horizon unless set),
  whatever the model says then, because the edge was promised over that
  horizon; a stop still fires meanwhile (it rests with the broker);
- after that, exit on the opposite condition: edge < -(cost + exit margin
  + confidence x edge_error),
  the model expecting a loss as large as the entry's promised gain.
  Between the two thresholds the position is kept: hysteresis a whole cost
  wide, so a reading that hovers near a threshold does not churn fees.

With `allow_short` (and paper.allow_short) the mirror image goes short.
Reasons start with a fixed phrase before a colon, so reports can count them.
"""

from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Signal
from bot.risk.costs import round_trip_cost
from bot.strategy import Strategy, StrategyContext


class EdgeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Extra expected return beyond the cost an entry needs, in basis points.
    margin_bps: float = Field(10.0, ge=0, le=10_000)
    # Exit when the edge is below -(cost + this), in basis points.
    exit_margin_bps: float = Field(10.0, ge=-10_000, le=10_000)
    # Bars a position is held before the model may exit it; None: the model's horizon.
    min_hold_bars: int | None = Field(None, ge=0, le=100_000)
    # The edge must clear the thresholds by this many of its standard errors
    # (ctx.edge_error): what is left of it once chance drift is allowed for.
    confidence: float = Field(1.0, ge=0, le=10)
    # No new entries while P(turbulent regime) is above this; None: ignore the regime.
    max_turbulence: float | None = Field(None, gt=0, le=1)
    allow_short: bool = False


class Edge(Strategy):
    Params = EdgeParams

    def contradicts(self, config) -> str | None:
        if self.params.allow_short and not config.paper.allow_short:
            # Clamped to flat by the risk manager, its bars read "abstain"
            # with a short's reason ("edge above cost: -0.447% > ...").
            return "strategy.params.allow_short: true, but paper.allow_short is false: the account cannot go short"
        return self._exit_above_entry(round_trip_cost(config.paper, None))

    def _exit_above_entry(self, cost: float) -> str | None:
        """The exit threshold, -(cost + exit margin), must lie below the
        entry's, cost + margin, at the cheapest cost (volatility only adds
        to it), or every position leaves at its first chance: an exit margin
        of -10,000 bps made 119 round trips in 222 daily bars."""
        entry, exit_ = cost + self.params.margin_bps / 10_000, -(cost + self.params.exit_margin_bps / 10_000)
        if exit_ < entry:
            return None
        lowest = -(2 * cost * 10_000 + self.params.margin_bps)
        return (
            f"strategy.params.exit_margin_bps: {self.params.exit_margin_bps:g} puts the exit threshold "
            f"({exit_:+.3%}) above the entry threshold ({entry:+.3%}): every position would leave at its first "
            f"chance; it must be above {lowest:g}"
        )

    def decide(self, ctx: StrategyContext) -> Signal:
        edge = ctx.expected_edge
        if ctx.prob_up is None or edge is None:
            return Signal(None, "no prediction: no model yet, or features warming up")
        cost = ctx.round_trip_cost
        doubt = self.params.confidence * ctx.edge_error
        if ctx.position_qty == 0:
            return self._from_flat(ctx, edge, cost, self.params.margin_bps / 10_000, doubt)
        min_hold = self.params.min_hold_bars if self.params.min_hold_bars is not None else ctx.horizon_bars
        if ctx.bars_held < min_hold:
            return Signal(None, f"minimum hold: {ctx.bars_held} of {min_hold} bars")
        signed = edge if ctx.position_qty > 0 else -edge
        margin = self.params.exit_margin_bps / 10_000
        leave = cost + margin + doubt
        if signed < -leave:
            terms = _threshold(cost, margin, doubt, -signed - cost - margin, ctx.edge_error)
            return Signal(0.0, f"edge reversed: {signed:+.3%} < -({terms})")
        return Signal(None, f"holding: edge {signed:+.3%}, exit below {-leave:+.3%}")

    def _from_flat(self, ctx: StrategyContext, edge: float, cost: float, margin: float, doubt: float) -> Signal:
        """The edge must beat the cost by `margin` and by `doubt` (its
        standard errors times the confidence asked for)."""
        wanted = abs(edge) if self.params.allow_short else edge
        terms = _threshold(cost, margin, doubt, wanted - cost - margin, ctx.edge_error)
        if wanted <= cost + (margin + doubt):  # summed as it always was: no decision moves by a rounding
            return Signal(None, f"edge below cost: {edge:+.3%} vs {terms}")
        limit = self.params.max_turbulence
        if limit is not None and ctx.regime is not None and ctx.regime > limit:
            return Signal(None, f"turbulent regime: P {ctx.regime:.2f} > {limit:.2f}")
        side = 1.0 if edge > 0 else -1.0
        return Signal(side, f"edge above cost: {edge:+.3%} > {terms}")


def _threshold(cost: float, margin: float, doubt: float, beyond: float, error: float) -> str:
    """A threshold's parts for a reason, and how far the edge stands beyond
    the cost and margin in its standard errors: what the evidence for a
    trade amounts to. On random walks the readings that happen to clear one
    standard error stand at 1.0-1.8 (docs/research-log.md, "What a chance
    reading looks like")."""
    errors = f" ({beyond / error:+.2f} standard errors)" if error > 0 else ""
    return f"{cost:.3%} cost + {margin:.3%} margin + {doubt:.3%} doubt{errors}"

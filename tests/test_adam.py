"""The trainer's own Adam (bot/model/adam.py) must move the weights exactly
as torch.optim.Adam does, bit for bit, or a model trained today would differ
from one trained before it replaced torch.optim for startup's sake."""

from __future__ import annotations

import pytest
import torch
from helpers import fresh_python_prints

from bot.model.adam import Adam
from bot.model.networks import RecurrentNet


def _train(cell: str, weight_decay: float, ours: bool, steps: int = 25) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    net = RecurrentNet(cell, n_features=6, hidden_size=8, num_layers=2, dropout=0.0)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(64, 12, 6, generator=generator)
    y = (torch.rand(64, generator=generator) > 0.5).float()
    if ours:
        optimizer = Adam(net.parameters(), lr=0.003, weight_decay=weight_decay)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=0.003, weight_decay=weight_decay)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_same_weights_as_torch_optim_adam_bit_for_bit(cell: str, weight_decay: float) -> None:
    with torch.random.fork_rng():
        theirs = _train(cell, weight_decay, ours=False)
        mine = _train(cell, weight_decay, ours=True)
    assert theirs.keys() == mine.keys()
    start = _train(cell, weight_decay, ours=True, steps=0)
    for name in theirs:
        assert torch.equal(theirs[name], mine[name]), name
        assert not torch.equal(start[name], mine[name]), f"{name} never moved"


def test_a_parameter_without_a_gradient_is_left_alone() -> None:
    used, unused = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    optimizer = Adam([used, unused], lr=0.1)
    (used * 2.0).sum().backward()
    optimizer.step()
    assert torch.equal(unused, torch.ones(3)) and unused.grad is None
    assert torch.all(used < 1.0)
    assert optimizer.steps == [1, 0]


def test_training_does_not_import_torch_dynamo() -> None:
    """The reason the trainer has its own Adam: torch.optim imports
    torch._dynamo (seconds of CPU per process). A fresh interpreter fits a
    small net and must not have loaded it."""
    code = (
        "import sys, torch\n"
        "from bot.model.adam import Adam\n"
        "from bot.model.networks import RecurrentNet\n"
        "net = RecurrentNet('lstm', 4, 8, 1, 0.0)\n"
        "opt = Adam(net.parameters(), lr=0.01)\n"
        "net(torch.randn(5, 7, 4)).sum().backward(); opt.step(); opt.zero_grad()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    assert fresh_python_prints(code) == "False"

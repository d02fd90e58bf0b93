"""Adam, as torch.optim.Adam computes it on the CPU (its single-tensor
path, no amsgrad), without torch.optim.

Why not torch.optim: constructing any torch.optim optimizer imports
torch._dynamo, which costs about 2 s of CPU and 70 MB of memory in every
process that trains, a fifteenth of a whole walk-forward run. The update
below is the same sequence of tensor operations, so the weights come out
bit for bit equal (tests/test_adam.py holds this against torch.optim.Adam).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.eps, self.weight_decay = lr, eps, weight_decay
        self.beta1, self.beta2 = betas
        self.steps = [0] * len(self.params)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, param in enumerate(self.params):
            if param.grad is not None:  # as torch.optim: a parameter without a gradient is left alone
                self._update(i, param, param.grad)

    def _update(self, i: int, param: torch.Tensor, grad: torch.Tensor) -> None:
        self.steps[i] += 1
        step = float(self.steps[i])
        bias_correction1 = 1 - self.beta1**step
        bias_correction2_sqrt = (1 - self.beta2**step) ** 0.5
        step_size = self.lr / bias_correction1
        if self.weight_decay != 0:
            grad = grad.add(param, alpha=self.weight_decay)
        exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)

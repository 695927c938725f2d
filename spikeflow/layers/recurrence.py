"""Any neuron made recurrent: its output spikes return through a Linear(N, N) one step later."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class RecurrentNeuron(nn.Module):
    """Wrap a neuron module (anything with ``step(x_t, state)``) with all-to-all feedback:

        y[t], s[t] = neuron.step(x[t] + W y[t-1] (+ b), s[t-1]),   y[-1] = 0

    x: [T, B, N] -> (y [T, B, N], state = (neuron state, y[T-1])). The loop runs the neuron's
    reference step under autograd (no fused kernel); RLeaky / RSynaptic are the fused
    recurrent neurons for the Leaky family. Use this for AdaptiveLeaky (ALIF) or any other model.
    """

    is_stateful = True

    def __init__(self, neuron: nn.Module, features: int, bias: bool = False, weight_scale: float = 1.0) -> None:
        super().__init__()
        if not callable(getattr(neuron, "step", None)):
            raise TypeError(f"neuron: expected a neuron module with a step(x_t, state) method, got "
                            f"{type(neuron).__name__}")
        if isinstance(features, bool) or not isinstance(features, int) or features < 1:
            raise ValueError(f"features: expected a positive int, got {features!r}")
        self.neuron = neuron
        self.features = features
        self.recurrent = nn.Linear(features, features, bias=bias)
        if weight_scale != 1.0:
            with torch.no_grad():
                self.recurrent.weight.mul_(weight_scale)

    def _check(self, x_t: Tensor) -> None:
        if x_t.dim() != 2 or x_t.shape[1] != self.features:
            raise ValueError(f"x: expected steps of shape [B, {self.features}] (sequences [T, B, {self.features}]), "
                             f"got a step of shape {tuple(x_t.shape)}")

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, tuple[Any, Tensor]]:
        self._check(x_t)
        inner, y_prev = (None, torch.zeros_like(x_t)) if state is None else state
        y, inner = self.neuron.step(x_t + self.recurrent(y_prev), inner)
        return y, (inner, y)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, tuple[Any, Tensor]]:
        if not isinstance(x, Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a time-major Tensor [T, B, {self.features}], got {got}")
        outs = []
        for t in range(x.shape[0]):
            y, state = self.step(x[t], state)
            outs.append(y)
        return torch.stack(outs), state  # type: ignore[return-value]

"""Neuron with an affine input drive and a non-rest start, used to express NIR's continuous neurons.

A NIR LIF ``tau dv/dt = (v_leak - v) + r I`` discretised with decay beta becomes

    u[t] = beta u[t-1] + gain x[t] + bias,   u = v - v_reset,  u[0-] = -v_reset

i.e. ``DrivenNeuron(Leaky(beta, threshold - v_reset, reset="zero", reset_delay=False), gain, bias,
v_init=-v_reset)``. The core neuron is unchanged; this layer only transforms its input and start.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def _buffer(name: str, value: Any) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: expected finite values, got {value!r}")
    return t


class DrivenNeuron(nn.Module):
    """``neuron(gain * x + bias)`` started from v = v_init (and current i = i_init).

    gain, bias, v_init, i_init: scalars or per-neuron tensors. x: [T, B, ...] -> the neuron's
    output; state is the neuron's own state (None = the shifted rest above).
    """

    is_stateful = True

    def __init__(self, neuron: nn.Module, gain: Any = 1.0, bias: Any = 0.0, v_init: Any = 0.0,
                 i_init: Any = 0.0) -> None:
        super().__init__()
        if not getattr(neuron, "is_stateful", False):
            raise TypeError(f"neuron: expected a spikeflow neuron module, got {type(neuron).__name__}")
        self.neuron = neuron
        for name, value in (("gain", gain), ("bias", bias), ("v_init", v_init), ("i_init", i_init)):
            self.register_buffer(name, _buffer(name, value))

    def init_state(self, x_t: Tensor) -> Any:
        """The neuron's rest state with v and i shifted to v_init / i_init. x_t: [B, ...]."""
        state = self.neuron.init_state(x_t)
        fields = {}
        if "v" in state._fields:
            fields["v"] = state.v + self.v_init.to(x_t.dtype)
        if "i" in state._fields:
            fields["i"] = state.i + self.i_init.to(x_t.dtype)
        return state._replace(**fields)

    def drive(self, x: Tensor) -> Tensor:
        return x * self.gain.to(x.dtype) + self.bias.to(x.dtype)

    def forward(self, x: Tensor, state: Any = None, record: bool = False) -> tuple[Tensor, Any]:
        if state is None:
            state = self.init_state(x[0])
        return self.neuron(self.drive(x), state, record=record)

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if state is None:
            state = self.init_state(x_t)
        return self.neuron.step(self.drive(x_t), state)

"""Containers that run stateless layers and neurons together over time."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


def is_stateful(module: nn.Module) -> bool:
    """Stateful modules take (x, state) and return (output, state): neurons, Sequential."""
    return bool(getattr(module, "is_stateful", False))


def time_distributed(module: nn.Module, x: Tensor) -> Tensor:
    """Apply a stateless module to every step: fold T into the batch. x: [T, B, ...]."""
    t, b = x.shape[0], x.shape[1]
    y = module(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


class TimeDistributed(nn.Module):
    """Wraps a stateless module (Linear, Conv2d, Flatten, ...) so it maps [T, B, ...] -> [T, B, ...]."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() < 3:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a time-major Tensor [T, B, ...] with at least 3 dims, got {got}")
        return time_distributed(self.module, x)


class Sequential(nn.Sequential):
    """A feed-forward stack over time. Stateless layers are applied to every step; neuron
    layers thread their own state.

    ``net(x, states=None)`` with x [T, B, ...] returns (output [T, B, ...], states), a list
    with one entry per layer (None for stateless layers). ``net(x, record=True)`` returns
    (output, outputs) with every layer's output sequence instead. ``net.step(x_t, states)``
    advances one step for online use.
    """

    is_stateful = True

    def _check_states(self, states: Any) -> list[Any]:
        if states is None:
            return [None] * len(self)
        if not isinstance(states, (list, tuple)) or len(states) != len(self):
            got = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"states: expected a list of {len(self)} entries (one per layer) or None, got {got}")
        return list(states)

    def forward(self, x: Tensor, states: Any = None, record: bool = False) -> tuple[Tensor, list[Any]]:  # type: ignore[override]
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a Tensor [T, B, ...], got {type(x).__name__}")
        if x.dim() < 3:
            raise ValueError(
                f"x: expected a time-major Tensor [T, B, features...] with at least 3 dims, got shape "
                f"{tuple(x.shape)} (is the time dimension missing?)"
            )
        states = self._check_states(states)
        new_states: list[Any] = []
        outputs: list[Tensor] = []
        for module, state in zip(self, states, strict=True):
            if is_stateful(module):
                x, state = module(x, state)
            else:
                x, state = time_distributed(module, x), None
            new_states.append(state)
            outputs.append(x)
        return (x, outputs) if record else (x, new_states)

    def step(self, x_t: Tensor, states: Any = None) -> tuple[Tensor, list[Any]]:
        """One time step: x_t [B, ...] -> (output [B, ...], new states)."""
        states = self._check_states(states)
        new_states: list[Any] = []
        for module, state in zip(self, states, strict=True):
            if is_stateful(module):
                x_t, state = module.step(x_t, state)
            else:
                x_t, state = module(x_t), None
            new_states.append(state)
        return x_t, new_states

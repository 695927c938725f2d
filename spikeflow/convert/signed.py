"""Signed integrate-and-fire neuron for converted networks (Wang et al. 2022, "signed neuron with memory")."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn


class SignedIFState(NamedTuple):
    """Membrane v and the net spike count n (positive minus negative spikes) so far, each [B, ...]."""

    v: Tensor
    n: Tensor


def signed_if_step(x: Tensor, state: SignedIFState, threshold: Tensor | float, memory: bool = True
                   ) -> tuple[Tensor, SignedIFState]:
    """One step of a signed IF neuron with reset by subtraction:

        v = v + x
        s = +1 if v >= thr;  s = -1 if v <= -thr (and, with ``memory``, n > 0);  else 0
        v = v - s thr,   n = n + s

    With ``memory`` the net count never goes below zero, so the rate approximates ReLU and a
    negative spike only takes back an earlier excess positive one; without it the neuron is a
    signed (linear) rate code. Returns (s, new state). Inference only: no surrogate gradient.
    """
    v = state.v + x
    pos = v >= threshold
    neg = v <= -threshold
    if memory:
        neg = neg & (state.n > 0)
    s = pos.to(x.dtype) - neg.to(x.dtype)
    return s, SignedIFState(v - s * threshold, state.n + s)


class SignedIF(nn.Module):
    """Signed IF neurons (see ``signed_if_step``). x: [T, B, ...] -> spikes in {-1, 0, 1} [T, B, ...]."""

    is_stateful = True

    def __init__(self, threshold: float = 1.0, memory: bool = True) -> None:
        super().__init__()
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
            raise ValueError(f"threshold: expected a positive number, got {threshold!r}")
        self.threshold = float(threshold)
        self.memory = bool(memory)

    def _state(self, x_t: Tensor, state: Any) -> SignedIFState:
        if state is None:
            return SignedIFState(torch.zeros_like(x_t), torch.zeros_like(x_t))
        state = SignedIFState(*state)
        if state.v.shape != x_t.shape or state.n.shape != x_t.shape:
            raise ValueError(f"state: expected SignedIFState(v, n) of shape {tuple(x_t.shape)}, got "
                             f"{tuple(state.v.shape)}, {tuple(state.n.shape)}")
        return state

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, SignedIFState]:
        return signed_if_step(x_t, self._state(x_t, state), self.threshold, self.memory)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, SignedIFState]:
        if not isinstance(x, Tensor) or x.dim() < 2 or not x.is_floating_point():
            got = (tuple(x.shape), x.dtype) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a floating-point time-major Tensor [T, B, ...], got {got}")
        st = self._state(x[0], state)
        outs = []
        for t in range(x.shape[0]):
            s, st = signed_if_step(x[t], st, self.threshold, self.memory)
            outs.append(s)
        return torch.stack(outs), st

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, memory={self.memory}"

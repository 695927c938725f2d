"""Dropout with one mask per sequence (the same neurons are dropped at every time step)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class SequenceDropout(nn.Module):
    """y[t] = x[t] * m / (1 - p), one Bernoulli(1 - p) mask m [B, ...] per sequence (training only).

    x: [T, B, ...]. The mask is the layer's state: ``forward`` draws it (or takes ``state``) and
    returns it, ``step`` reuses it, so a sequence fed one step at a time keeps one mask.
    In eval mode, or with p = 0, the layer is the identity and the state stays None.
    """

    is_stateful = True

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"p: expected a drop probability in [0, 1), got {p!r}")
        self.p = float(p)

    def _mask(self, x_t: Tensor, state: Any) -> Tensor | None:
        if not self.training or self.p == 0:
            return None
        if state is None:
            keep = torch.rand(x_t.shape, dtype=x_t.dtype, device=x_t.device) >= self.p
            return keep.to(x_t.dtype) / (1 - self.p)
        if not isinstance(state, Tensor) or state.shape != x_t.shape:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"state: expected a mask of shape {tuple(x_t.shape)} (one step) or None, got {got}")
        return state

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor | None]:
        if not isinstance(x, Tensor) or x.dim() < 2:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a time-major Tensor [T, B, ...], got {got}")
        mask = self._mask(x[0], state)
        return (x if mask is None else x * mask), mask

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, Tensor | None]:
        mask = self._mask(x_t, state)
        return (x_t if mask is None else x_t * mask), mask

    def extra_repr(self) -> str:
        return f"p={self.p}"

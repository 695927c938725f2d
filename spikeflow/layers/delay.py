"""Axonal delay line: each feature sees its input a fixed number of steps late."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class Delay(nn.Module):
    """y[t] = x[t - d] per feature, d >= 0 integer steps (zeros before the start).

    ``steps``: int or integer tensor of the feature shape. State: the last max(d) inputs,
    a Tensor [D, B, ...] (None = all zeros). ``delay(x, state)`` with x [T, B, ...] returns
    (y [T, B, ...], state); ``.step(x_t, state)`` advances one step.
    """

    is_stateful = True

    def __init__(self, steps: Any) -> None:
        super().__init__()
        t = torch.as_tensor(steps)
        if t.is_floating_point():
            if not torch.isfinite(t).all() or (t != t.round()).any():
                raise ValueError(f"steps: expected non-negative integers, got {steps!r}")
            t = t.round()
        t = t.to(torch.long)
        if (t < 0).any():
            raise ValueError(f"steps: expected non-negative integers, got {steps!r}")
        self.register_buffer("steps", t)

    @property
    def max_delay(self) -> int:
        return int(self.steps.max()) if self.steps.numel() else 0

    def _history(self, state: Any, x_t: Tensor) -> Tensor:
        d = self.max_delay
        if state is None:
            return x_t.new_zeros((d, *x_t.shape))
        if not isinstance(state, Tensor) or tuple(state.shape) != (d, *x_t.shape):
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"state: expected the delay history of shape {(d, *x_t.shape)}, got {got}")
        return state

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
        if not isinstance(x, Tensor) or x.dim() < 2:
            raise ValueError(f"x: expected a Tensor [T, B, ...], got {getattr(x, 'shape', type(x).__name__)}")
        hist = self._history(state, x[0])
        d, t_len = self.max_delay, x.shape[0]
        if d == 0:
            return x, hist
        full = torch.cat([hist, x], dim=0)  # [D + T, B, ...]
        steps = torch.broadcast_to(self.steps, x.shape[2:]).reshape(-1)
        flat = full.reshape(d + t_len, x.shape[1], -1)
        idx = d + torch.arange(t_len, device=x.device)[:, None] - steps.to(x.device)[None, :]  # [T, N]
        idx = idx[:, None, :].expand(t_len, x.shape[1], flat.shape[2])
        y = flat.gather(0, idx).reshape(x.shape)
        return y, full[t_len:]

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, Tensor]:
        """One step: x_t [B, ...] -> (y_t [B, ...], new history)."""
        y, hist = self.forward(x_t.unsqueeze(0), state)
        return y[0], hist

    def extra_repr(self) -> str:
        return f"steps={self.steps.tolist() if self.steps.numel() <= 8 else tuple(self.steps.shape)}"

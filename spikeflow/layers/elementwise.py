"""Stateless element-wise layers: per-feature Scale and a Heaviside Threshold."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import surrogate as _surrogate


def _finite(name: str, value: Any) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: expected finite values, got {value!r}")
    return t


class Scale(nn.Module):
    """y = scale * x, scale per feature (broadcast over the trailing feature dims). x: [N, ...]."""

    def __init__(self, scale: Any, learnable: bool = False) -> None:
        super().__init__()
        t = _finite("scale", scale)
        if learnable:
            self.scale = nn.Parameter(t)
        else:
            self.register_buffer("scale", t)

    @classmethod
    def checked(cls, scale: Tensor) -> Scale:
        """A fixed (non-learnable) Scale holding ``scale`` itself: the caller has checked it is finite
        and owns it. Same module as ``Scale(scale)``, without the copy and check (NIR import builds
        thousands)."""
        m = cls.__new__(cls)
        nn.Module.__init__(m)
        m.register_buffer("scale", scale)
        return m

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.to(x.dtype)


class Threshold(nn.Module):
    """Stateless spike: y = H(x - threshold) = 1[x > threshold] (surrogate gradient). x: [N, ...]."""

    def __init__(self, threshold: Any, surrogate: Any = None) -> None:
        super().__init__()
        self.register_buffer("threshold", _finite("threshold", threshold))
        self.surrogate = _surrogate.get(surrogate)

    def forward(self, x: Tensor) -> Tensor:
        return self.surrogate(x - self.threshold.to(x.dtype))

"""Neuron-state quantization: snap membranes (and currents) to a fixed set of levels.

``StateQuantizer(bits, threshold, lower_limit=0, upper_limit=0.2, uniform=True)`` has
``2**bits`` levels spanning ``[-threshold * (1 + lower_limit), threshold * (1 + upper_limit)]``
(the range and defaults of snnTorch's ``state_quant``):
- uniform: evenly spaced (``torch.linspace``);
- non-uniform (``uniform=False``): threshold-centred, denser near the threshold, where a
  rounding error decides whether the neuron fires. The gaps grow geometrically by ``1 / ratio``
  away from the threshold on both sides (the levels below the threshold take their share of
  ``2**bits`` by the length of their side of the range).
``q(v)`` returns the nearest level (values outside the range go to the end levels); its
gradient is the identity (straight-through). A neuron applies it to every state field but its
spikes after each step (``neuron.state_quant = q`` or ``quantize(model, state_bits=...)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .weights import straight_through


@dataclass(frozen=True)
class StateQuantizer:
    bits: int = 8
    threshold: float = 1.0
    lower_limit: float = 0.0
    upper_limit: float = 0.2
    uniform: bool = True
    ratio: float = 0.9

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 1 <= self.bits <= 16:
            raise ValueError(f"bits: expected an int in 1..16, got {self.bits!r}")
        for name in ("threshold", "lower_limit", "upper_limit", "ratio"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name}: expected a finite number, got {v!r}")
        if self.threshold <= 0:
            raise ValueError(f"threshold: expected a positive number, got {self.threshold!r}")
        if self.lower_limit < 0 or self.upper_limit < 0:
            raise ValueError(f"lower_limit/upper_limit: expected >= 0, got {self.lower_limit!r}, {self.upper_limit!r}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"ratio: expected a number in (0, 1], got {self.ratio!r}")
        if not isinstance(self.uniform, bool):
            raise TypeError(f"uniform: expected a bool, got {self.uniform!r}")

    @property
    def low(self) -> float:
        return -self.threshold * (1 + self.lower_limit)

    @property
    def high(self) -> float:
        return self.threshold * (1 + self.upper_limit)

    def levels(self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
        """The 2**bits levels, ascending."""
        n = 2**self.bits
        if self.uniform or n < 4:
            return torch.linspace(self.low, self.high, n, dtype=dtype, device=device)
        theta = self.threshold
        below = max(1, min(n - 2, round(n * (theta - self.low) / (self.high - self.low))))
        above = n - 1 - below  # plus the threshold itself
        levels = [theta]
        for count, span, sign in ((below, theta - self.low, -1.0), (above, self.high - theta, 1.0)):
            gaps = [self.ratio ** (-k) for k in range(count)]  # smallest gap next to the threshold
            total = sum(gaps)
            position = 0.0
            for g in gaps:
                position += g / total * span
                levels.append(theta + sign * position)
        return torch.tensor(sorted(levels), dtype=dtype, device=device)

    def __call__(self, v: Tensor) -> Tensor:
        if not isinstance(v, Tensor) or not v.is_floating_point():
            raise TypeError(f"state: expected a floating-point Tensor, got {type(v).__name__}")
        levels = self.levels(v.dtype, v.device)
        d = v.detach()
        n = len(levels)
        if self.uniform or n < 4:
            # the bracketing pair in closed form (no search): k = floor((v - low) / gap); when rounding puts v a
            # hair outside [levels[k], levels[k+1]], v is within an ulp of one of them, which the comparison picks
            k = ((d - self.low) * ((n - 1) / (self.high - self.low))).floor_().clamp_(0, n - 2).long()
            lo, hi = levels.take(k), levels.take(k + 1)
        else:
            idx = torch.bucketize(d.clamp(levels[0], levels[-1]), levels).clamp(1, n - 1)
            lo, hi = levels[idx - 1], levels[idx]
        snapped = torch.where(d - lo <= hi - d, lo, hi)  # the nearest level; a tie goes down (as snnTorch's argmin)
        return straight_through(v, snapped)

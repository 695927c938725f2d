"""snnTorch's ``state_quant``: uniform quantization of a neuron state for ``state_quant=``."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = ["state_quant"]


class _Quantize(torch.autograd.Function):
    """Forward: nearest level; backward: straight through."""

    @staticmethod
    def forward(ctx, x: Tensor, levels: Tensor) -> Tensor:  # type: ignore[override]
        idx = torch.argmin((x.unsqueeze(-1) - levels).abs(), dim=-1)
        return levels[idx]

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad, None


def state_quant(num_bits: int = 8, uniform: bool = True, thr_centered: bool = True, threshold: float = 1,
                lower_limit: float = 0, upper_limit: float = 0.2,
                multiplier: float | None = None) -> Callable[[Tensor], Tensor]:
    """2**num_bits uniform levels over [threshold * (-1 - lower_limit), threshold * (1 + upper_limit)]
    (centred on the threshold when thr_centered); returns q(x) -> nearest level."""
    if isinstance(num_bits, bool) or not isinstance(num_bits, int) or num_bits < 1:
        raise ValueError(f"num_bits: expected an int >= 1, got {num_bits!r}")
    if not uniform:
        raise ValueError("uniform: only uniform levels are provided by the compat layer")
    n = 2**num_bits
    levels = torch.linspace(-threshold - threshold * lower_limit, threshold + threshold * upper_limit, n)

    def quantize(x: Tensor) -> Tensor:
        return _Quantize.apply(x, levels.to(dtype=x.dtype, device=x.device))

    return quantize

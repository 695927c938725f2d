"""The surrogates every backend comparison rotates through (imported by the kernel tests)."""

from __future__ import annotations

import torch

from spikeflow import surrogate


def custom_grad(x: torch.Tensor, spike: torch.Tensor) -> torch.Tensor:
    """A user-defined derivative: exercises the path for surrogates without a kernel formula."""
    return torch.exp(-x.abs()) + 0.1 * spike


SURROGATES = [
    surrogate.ATan(),
    surrogate.FastSigmoid(),
    surrogate.Triangular(width=0.7),
    surrogate.Sigmoid(slope=5.0),
    surrogate.Heaviside(),
    surrogate.Custom(custom_grad),
]

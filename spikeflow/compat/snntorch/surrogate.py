"""snnTorch's surrogate factories, returning spikeflow surrogates.

Each factory returns a picklable ``spikeflow.surrogate.Surrogate``: calling it on
``mem - threshold`` gives the Heaviside spike with that surrogate's derivative, exactly as the
closures snnTorch returns. Custom spike functions (any callable) are also accepted by the
compat neurons.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from ... import surrogate as _sg

__all__ = [
    "atan", "fast_sigmoid", "sigmoid", "triangular", "straight_through_estimator", "heaviside",
    "spike_rate_escape", "SSO", "LSO", "SFS", "custom_surrogate",
    "ATan", "FastSigmoid", "Sigmoid", "Triangular", "StraightThroughEstimator", "Heaviside",
    "SpikeRateEscape", "StochasticSpikeOperator", "LeakySpikeOperator", "SparseFastSigmoid",
]


def atan(alpha: float = 2.0) -> _sg.Surrogate:
    """Arctangent surrogate: dS/dU = (alpha/2) / (1 + (pi/2 alpha U)^2)."""
    return _sg.ATan(alpha)


def fast_sigmoid(slope: float = 25) -> _sg.Surrogate:
    """Fast sigmoid: dS/dU = 1 / (slope |U| + 1)^2."""
    return _sg.FastSigmoid(slope)


def sigmoid(slope: float = 25) -> _sg.Surrogate:
    """Logistic: dS/dU = slope s(slope U)(1 - s(slope U)) (finite for every U, unlike snnTorch's)."""
    return _sg.Sigmoid(slope)


class _SnnTriangular(_sg.Surrogate):
    """snnTorch's ``triangular(threshold)``: dS/dU = +threshold below 0, -threshold above it.

    Kept for numerical compatibility (it is not a triangle's derivative; spikeflow's own
    ``Triangular`` is); see docs/migrating-from-snntorch.md.
    """

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = _sg._check_real("threshold", threshold)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return torch.where(x >= 0, -self.threshold, self.threshold).to(x.dtype)


def triangular(threshold: float = 1) -> _sg.Surrogate:
    return _SnnTriangular(threshold)


def straight_through_estimator() -> _sg.Surrogate:
    return _sg.StraightThrough()


def heaviside() -> _sg.Surrogate:
    return _sg.Heaviside()


def spike_rate_escape(beta: float = 1, slope: float = 25) -> _sg.Surrogate:
    return _sg.SpikeRateEscape(beta, slope)


def SSO(mean: float = 0, variance: float = 0.2) -> _sg.Surrogate:  # noqa: N802 - snnTorch's name
    return _sg.StochasticSpikeOperator(mean, variance)


def LSO(slope: float = 0.1) -> _sg.Surrogate:  # noqa: N802 - snnTorch's name
    return _sg.LeakySpikeOperator(slope)


def SFS(slope: float = 25, B: float = 1) -> _sg.Surrogate:  # noqa: N802 - snnTorch's name
    return _sg.SparseFastSigmoid(slope, B)


class _CustomForward(_sg.Surrogate):
    """snnTorch's ``custom_surrogate(fn)``: fn(input_, grad_input, spikes) -> grad."""

    def __init__(self, fn: Callable[..., Tensor]) -> None:
        if not callable(fn):
            raise TypeError(f"custom_surrogate_function: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x: Tensor) -> Tensor:
        return _CustomSpike.apply(x, self.fn)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return self.fn(x, torch.ones_like(x), spike)


class _CustomSpike(torch.autograd.Function):
    """Heaviside forward; backward ``fn(input_, grad_output, spikes)`` (the full gradient)."""

    @staticmethod
    def forward(ctx, x: Tensor, fn: Callable[..., Tensor]) -> Tensor:  # type: ignore[override]
        out = (x > 0).to(x.dtype)
        ctx.save_for_backward(x, out)
        ctx.fn = fn
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        x, out = ctx.saved_tensors
        return ctx.fn(x, grad_output.clone(), out), None


def custom_surrogate(custom_surrogate_function: Callable[..., Tensor]) -> _sg.Surrogate:
    """dS/dU given by ``custom_surrogate_function(input_, grad_input, spikes)`` (with grad_input = 1)."""
    return _CustomForward(custom_surrogate_function)


# snnTorch also exposes its autograd Function classes; here they are spikeflow's classes.
ATan, FastSigmoid, Sigmoid, Triangular = _sg.ATan, _sg.FastSigmoid, _sg.Sigmoid, _sg.Triangular
StraightThroughEstimator, Heaviside, SpikeRateEscape = _sg.StraightThrough, _sg.Heaviside, _sg.SpikeRateEscape
StochasticSpikeOperator, LeakySpikeOperator, SparseFastSigmoid = (
    _sg.StochasticSpikeOperator, _sg.LeakySpikeOperator, _sg.SparseFastSigmoid,
)


class NoGradient(_sg.Surrogate):
    """``surrogate_disable=True``: the Heaviside spike with no gradient at all (dS/dU = 0)."""

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return torch.zeros_like(x)


def as_surrogate(spike_grad: Any) -> _sg.Surrogate:
    """A compat neuron's ``spike_grad``: None (atan), a spikeflow surrogate, or any callable."""
    if spike_grad is None:
        return _sg.ATan()
    if isinstance(spike_grad, _sg.Surrogate):
        return spike_grad
    if callable(spike_grad):
        return _CallableSpike(spike_grad)
    raise TypeError("spike_grad: expected a surrogate (e.g. surrogate.atan()) or a callable, "
                    f"got {type(spike_grad).__name__}")


class _CallableSpike(_sg.Surrogate):
    """A user's spike function ``fn(U) -> spikes`` (with its own autograd) used as is."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        self.fn = fn

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:  # pragma: no cover - autograd of fn is used
        raise NotImplementedError("a callable spike_grad differentiates through its own autograd")

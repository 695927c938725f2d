"""Surrogate gradients for the Heaviside spike function.

Every surrogate is a small picklable class. Its forward is always the Heaviside step
``S = 1[x > 0]`` (``x = v - threshold``); its backward replaces ``dS/dx`` by
``self.grad(x, spike)``. Fused kernels call ``grad`` directly, so each family's
derivative is written exactly once, here.

All formulas are written so that no overflow can produce NaN or inf for any finite x.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

__all__ = [
    "Surrogate",
    "ATan",
    "FastSigmoid",
    "Sigmoid",
    "Triangular",
    "StraightThrough",
    "Heaviside",
    "SpikeRateEscape",
    "StochasticSpikeOperator",
    "LeakySpikeOperator",
    "SparseFastSigmoid",
    "Custom",
    "get",
    "spike",
]


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, ``surrogate.grad`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, surrogate: "Surrogate") -> Tensor:  # type: ignore[override]
        out = (x > 0).to(x.dtype)
        ctx.save_for_backward(x, out)
        ctx.surrogate = surrogate
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        x, out = ctx.saved_tensors
        return grad_output * ctx.surrogate.grad(x, out), None


class Surrogate:
    """Base class: ``surrogate(x)`` returns Heaviside(x) with the surrogate derivative."""

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        """dS/dx used in the backward pass (same shape as ``x``)."""
        raise NotImplementedError

    def kernel_formula(self) -> "tuple[Callable[..., Any], tuple[float, ...]] | None":
        """Optional: ``(f, consts)`` with ``grad(x, spike) == f(x, spike, *consts)``.

        ``f`` uses only arithmetic on its arguments, so compiled kernels can evaluate it on
        scalars (constants arrive as arguments, cast to the data's precision). None: kernels
        call ``grad`` on tensors.
        """
        return None

    def __call__(self, x: Tensor) -> Tensor:
        return _SpikeFunction.apply(x, self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items(), key=str))))


def _check_real(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if not (isinstance(value, Tensor) and value.numel() == 1 and not value.dtype == torch.bool):
            raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return value


def _check_positive(name: str, value: float) -> float:
    value = _check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return value


def _atan_grad(x: Any, spike: Any, half_alpha: Any, scale: Any, one: Any) -> Any:
    """(alpha/2) / (1 + (pi/2 * alpha * x)^2) with half_alpha = alpha/2, scale = pi/2 * alpha, one = 1."""
    y = scale * x
    return half_alpha / (one + y * y)


class ATan(Surrogate):
    """dS/dx = (alpha/2) / (1 + (pi/2 * alpha * x)^2)  (Fang et al. 2021; snnTorch's default)."""

    def __init__(self, alpha: float = 2.0) -> None:
        self.alpha = _check_positive("alpha", alpha)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return _atan_grad(x, spike, self.alpha / 2, math.pi / 2 * self.alpha, 1)

    def kernel_formula(self) -> "tuple[Callable[..., Any], tuple[float, ...]] | None":
        if type(self).grad is not ATan.grad:  # a subclass changed the derivative
            return None
        return _atan_grad, (self.alpha / 2, math.pi / 2 * self.alpha, 1.0)


def _fast_sigmoid_grad(x: Any, spike: Any, slope: Any, one: Any) -> Any:
    """1 / (slope |x| + 1)^2 with one = 1."""
    d = slope * abs(x) + one
    return one / (d * d)


class FastSigmoid(Surrogate):
    """dS/dx = 1 / (slope * |x| + 1)^2  (SuperSpike, Zenke & Ganguli 2018)."""

    def __init__(self, slope: float = 25.0) -> None:
        self.slope = _check_positive("slope", slope)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return _fast_sigmoid_grad(x, spike, self.slope, 1)

    def kernel_formula(self) -> "tuple[Callable[..., Any], tuple[float, ...]] | None":
        if type(self).grad is not FastSigmoid.grad:  # a subclass changed the derivative
            return None
        return _fast_sigmoid_grad, (self.slope, 1.0)


class Sigmoid(Surrogate):
    """dS/dx = slope * sigmoid(slope x) * (1 - sigmoid(slope x)), computed without overflow."""

    def __init__(self, slope: float = 25.0) -> None:
        self.slope = _check_positive("slope", slope)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        # sigmoid(z) * sigmoid(-z) keeps full precision in both tails (1 - sigmoid(z) does not)
        return self.slope * torch.sigmoid(self.slope * x) * torch.sigmoid(-self.slope * x)


class Triangular(Surrogate):
    """dS/dx = max(0, 1 - |x| / width) / width  (Esser et al. 2016; integrates to 1)."""

    def __init__(self, width: float = 1.0) -> None:
        self.width = _check_positive("width", width)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return (1 - x.abs() / self.width).clamp(min=0) / self.width


class StraightThrough(Surrogate):
    """dS/dx = 1 (straight-through estimator)."""

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return torch.ones_like(x)


class Heaviside(Surrogate):
    """dS/dx = S: the gradient passes only where the neuron spiked (spike-gated)."""

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return spike


class SpikeRateEscape(Surrogate):
    """dS/dx = slope * exp(-beta * |x - 1|)  (escape-rate / Boltzmann kernel)."""

    def __init__(self, beta: float = 1.0, slope: float = 25.0) -> None:
        self.beta = _check_positive("beta", beta)
        self.slope = _check_positive("slope", slope)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return self.slope * torch.exp(-self.beta * (x - 1).abs())


class StochasticSpikeOperator(Surrogate):
    """dS/dx = 1 where S = 1; else (u - 0.5 + mean) * variance with u ~ U[0, 1)."""

    def __init__(self, mean: float = 0.0, variance: float = 0.2) -> None:
        self.mean = _check_real("mean", mean)
        self.variance = _check_positive("variance", variance)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        noise = (torch.rand_like(x) - 0.5 + self.mean) * self.variance
        return spike + (1 - spike) * noise


class LeakySpikeOperator(Surrogate):
    """dS/dx = 1 where S = 1; else slope (a threshold-shifted leaky ReLU)."""

    def __init__(self, slope: float = 0.1) -> None:
        self.slope = _check_positive("slope", slope)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return spike + (1 - spike) * self.slope


class SparseFastSigmoid(Surrogate):
    """dS/dx = 1 / (slope |x| + 1)^2 for x > B, else 0  (Perez-Nieves & Goodman 2021)."""

    def __init__(self, slope: float = 25.0, B: float = 1.0) -> None:
        self.slope = _check_positive("slope", slope)
        self.B = _check_real("B", B)

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        return (x > self.B).to(x.dtype) / (self.slope * x.abs() + 1).square()


class Custom(Surrogate):
    """User-defined derivative: ``fn(x, spike) -> dS/dx``.

    ``fn`` must be a picklable (module-level) function for a saved model to reload.
    """

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable (x, spike) -> Tensor, got {type(fn).__name__}")
        self.fn = fn

    def grad(self, x: Tensor, spike: Tensor) -> Tensor:
        out = self.fn(x, spike)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            raise ValueError(
                "Custom surrogate fn must return a Tensor shaped like its input "
                f"{tuple(x.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
            )
        return out


_NAMES: dict[str, type[Surrogate]] = {
    "atan": ATan,
    "fast_sigmoid": FastSigmoid,
    "fastsigmoid": FastSigmoid,
    "sigmoid": Sigmoid,
    "triangular": Triangular,
    "straight_through": StraightThrough,
    "ste": StraightThrough,
    "heaviside": Heaviside,
    "spike_rate_escape": SpikeRateEscape,
    "sso": StochasticSpikeOperator,
    "stochastic_spike_operator": StochasticSpikeOperator,
    "lso": LeakySpikeOperator,
    "leaky_spike_operator": LeakySpikeOperator,
    "sfs": SparseFastSigmoid,
    "sparse_fast_sigmoid": SparseFastSigmoid,
}


def get(surrogate: "Surrogate | str | None") -> Surrogate:
    """Resolve a surrogate given as an instance, a name (``"atan"``) or None (ATan(2))."""
    if surrogate is None:
        return ATan()
    if isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, str):
        key = surrogate.lower()
        if key not in _NAMES:
            raise ValueError(
                f"surrogate: unknown name {surrogate!r}; expected one of {sorted(set(_NAMES))}"
            )
        return _NAMES[key]()
    raise TypeError(
        "surrogate: expected a spikeflow.surrogate.Surrogate, a name or None, "
        f"got {type(surrogate).__name__}"
    )


def spike(x: Tensor, surrogate: "Surrogate | str | None" = None) -> Tensor:
    """Heaviside(x) with the given surrogate derivative."""
    return get(surrogate)(x)


_SNNTORCH_FACTORIES = {
    "atan": "ATan(alpha)", "fast_sigmoid": "FastSigmoid(slope)", "sigmoid": "Sigmoid(slope)",
    "triangular": "Triangular(width)", "straight_through_estimator": "StraightThrough()",
    "heaviside": "Heaviside()", "spike_rate_escape": "SpikeRateEscape(beta, slope)",
    "SSO": "StochasticSpikeOperator(mean, variance)", "LSO": "LeakySpikeOperator(slope)",
    "SFS": "SparseFastSigmoid(slope, B)", "custom_surrogate": "Custom(fn)",
}


def __getattr__(name: str) -> Any:
    """snnTorch's lower-case factories are named with their spikeflow class in the error."""
    if name in _SNNTORCH_FACTORIES:
        raise AttributeError(
            f"spikeflow.surrogate.{name}: snnTorch's factory; here the surrogate is the class "
            f"spikeflow.surrogate.{_SNNTORCH_FACTORIES[name]} (or the name {name.lower()!r}), or use "
            f"spikeflow.compat.snntorch.surrogate.{name}() to run snnTorch code unchanged"
        )
    raise AttributeError(f"module 'spikeflow.surrogate' has no attribute {name!r}")

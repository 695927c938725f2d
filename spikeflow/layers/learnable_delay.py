"""Learnable delays for [T, B, ...] sequences: per neuron (axonal) and per synapse (with weights).

Equations in ``spikeflow.functional.delay``. Both modules are stateful like neurons:
``module(x, state=None)`` -> (y, DelayState), ``module.step(x_t, state)``; the state is the
explicit history of the last ``max_delay`` inputs (never a buffer), so they run inside
``sf.Sequential`` and online.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..functional.delay import DELAY_KERNELS, DelayState, delay_weights, neuron_delay, next_history, with_history
from ..kernels import delay as _delay_kernels

InitLike = float | int | Tensor | tuple[float, float]


class DelayRoundingWarning(UserWarning):
    """A learned delay was rounded to whole steps (for NIR export); make it an error with
    ``warnings.simplefilter("error", DelayRoundingWarning)``."""


def _check_max_delay(max_delay: Any) -> int:
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay < 1:
        raise ValueError(f"max_delay: expected an int >= 1 (steps), got {max_delay!r}")
    return max_delay


def _init_delay(delay: InitLike, shape: tuple[int, ...], max_delay: int) -> Tensor:
    """A number, a tensor (broadcast to shape) or (low, high): uniform initialisation."""
    if isinstance(delay, tuple):
        if len(delay) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in delay):
            raise ValueError(f"delay: expected a (low, high) pair of numbers, got {delay!r}")
        low, high = float(delay[0]), float(delay[1])
        if not 0 <= low <= high <= max_delay:
            raise ValueError(f"delay: expected 0 <= low <= high <= max_delay={max_delay}, got {delay!r}")
        return torch.empty(shape).uniform_(low, high)
    if isinstance(delay, bool) or not isinstance(delay, (int, float, Tensor)):
        raise TypeError(f"delay: expected a number, a Tensor or a (low, high) pair, got {type(delay).__name__}")
    t = torch.as_tensor(delay, dtype=torch.get_default_dtype()).detach().clone()
    if not torch.isfinite(t).all() or (t < 0).any() or (t > max_delay).any():
        raise ValueError(f"delay: expected values in [0, max_delay={max_delay}], got {delay!r}")
    try:
        return t.expand(shape).clone()
    except RuntimeError:
        raise ValueError(f"delay: shape {tuple(t.shape)} does not broadcast to {shape}") from None


def rounded_steps(name: str, delay: Tensor, max_delay: int) -> Tensor:
    """Delays rounded to whole steps (int64), warning with DelayRoundingWarning if any moved."""
    d = delay.detach().clamp(0, max_delay)
    steps = d.round()
    moved = (d - steps).abs().max().item() if d.numel() else 0.0
    if moved > 1e-6:
        warnings.warn(f"{name}: learned delays rounded to whole steps for export (largest change {moved:.3g} "
                      "steps); call .round_delays() first to train or fine-tune at the rounded values",
                      DelayRoundingWarning, stacklevel=3)
    return steps.to(torch.int64)


class _DelayBase(nn.Module):
    is_stateful = True
    max_delay: int
    kernel: str
    sigma: float

    def _setup(self, max_delay: int, kernel: str, sigma: float) -> None:
        self.max_delay = _check_max_delay(max_delay)
        if kernel not in DELAY_KERNELS:
            raise ValueError(f"kernel: expected one of {DELAY_KERNELS}, got {kernel!r}")
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0 or math.isinf(sigma):
            raise ValueError(f"sigma: expected a finite positive number, got {sigma!r}")
        self.kernel, self.sigma = kernel, float(sigma)

    def _check(self, x: Any, state: Any, min_dim: int, layout: str) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point Tensor {layout}, got "
                            f"{getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() < min_dim:
            raise ValueError(f"x: expected a Tensor {layout}, got shape {tuple(x.shape)}")
        if state is not None:
            want = (self.max_delay, *x.shape[1:])
            hist = state[0] if isinstance(state, tuple) else None
            if not isinstance(hist, Tensor) or tuple(hist.shape) != want:
                got = tuple(hist.shape) if isinstance(hist, Tensor) else type(state).__name__
                raise ValueError(f"state: expected DelayState(history of shape {want}), got {got}")

    def step(self, x_t: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """One step: x_t [B, ...] -> (y_t, new state)."""
        if not isinstance(x_t, Tensor):
            raise TypeError(f"x_t: expected a Tensor [B, ...], got {type(x_t).__name__}")
        y, state = self.forward(x_t.unsqueeze(0), state)
        return y[0], state

    @torch.no_grad()
    def round_delays(self) -> None:
        """Snap the delays to whole steps in place (e.g. before export or a final fine-tune)."""
        self.delay.copy_(self.delay.clamp(0, self.max_delay).round())


class LearnableDelay(_DelayBase):
    """Per-neuron learnable axonal delay: y_i[t] = sum_k w_k(d_i) x_i[t - k], d_i in [0, max_delay].

    ``delay``: a number, a tensor of the feature shape, or (low, high) for a uniform
    initialisation (needs ``features``). ``kernel``: "linear" (interpolation between floor and
    ceil of d; an integer d is an exact delay) or "gaussian" (DCLS-style, width ``sigma`` steps,
    which may be annealed during training). x: [T, B, ...] -> y: [T, B, ...].
    """

    def __init__(self, max_delay: int, delay: InitLike = 0.0, features: int | tuple[int, ...] | None = None, *,
                 learn_delay: bool = True, kernel: str = "linear", sigma: float = 1.0) -> None:
        super().__init__()
        self._setup(max_delay, kernel, sigma)
        if features is None and isinstance(delay, tuple):
            raise ValueError("delay: a (low, high) range needs features= (the neuron count or shape)")
        shape = () if features is None else ((features,) if isinstance(features, int) else tuple(features))
        if features is None and isinstance(delay, Tensor):
            shape = tuple(delay.shape)
        d = _init_delay(delay, shape, self.max_delay)
        if learn_delay:
            self.delay = nn.Parameter(d)
        else:
            self.register_buffer("delay", d)

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        self._check(x, state, 2, "[T, B, ...]")
        full = with_history(x, state, self.max_delay)
        w = delay_weights(self.delay.to(x.dtype), self.max_delay, self.kernel, self.sigma)
        try:
            y = neuron_delay(full, w, x.shape[0])
        except RuntimeError:
            raise ValueError(f"delay: per-neuron shape {tuple(self.delay.shape)} does not fit inputs of shape "
                             f"{tuple(x.shape)} [T, B, ...]") from None
        return y, next_history(full, self.max_delay)

    def integer_steps(self, name: str = "LearnableDelay") -> Tensor:
        """The delays rounded to whole steps (DelayRoundingWarning if that changes them)."""
        return rounded_steps(name, self.delay, self.max_delay)

    def extra_repr(self) -> str:
        return f"max_delay={self.max_delay}, shape={tuple(self.delay.shape)}, kernel={self.kernel!r}"


class DelayedLinear(_DelayBase):
    """Linear layer with a learnable delay per synapse:

        y_j[t] = sum_i W_ji sum_k w_k(d_ji) x_i[t - k] + bias_j,   d_ji in [0, max_delay]

    x: [T, B, in_features] -> y: [T, B, out_features]. ``delay`` defaults to a uniform
    initialisation over [0, max_delay]. ``backend``: "auto" (the event-driven numba kernel for the
    linear kernel on CPU, else the reference convolution), "reference" or "cpu" (raises if it
    cannot serve the call). The numba path is differentiable once (no double backward).
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, bias: bool = True, *,
                 delay: InitLike | None = None, learn_delay: bool = True, kernel: str = "linear",
                 sigma: float = 1.0, backend: str = "auto") -> None:
        super().__init__()
        self._setup(max_delay, kernel, sigma)
        if backend not in _delay_kernels.BACKENDS:
            raise ValueError(f"backend: expected one of {_delay_kernels.BACKENDS}, got {backend!r}")
        self.backend = backend
        lin = nn.Linear(in_features, out_features, bias=bias)
        self.weight = nn.Parameter(lin.weight.detach().clone())
        self.bias = nn.Parameter(lin.bias.detach().clone()) if bias else None
        d = _init_delay((0.0, float(max_delay)) if delay is None else delay, (out_features, in_features), max_delay)
        if learn_delay:
            self.delay = nn.Parameter(d)
        else:
            self.register_buffer("delay", d)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        self._check(x, state, 3, "[T, B, in_features]")
        if x.dim() != 3 or x.shape[2] != self.in_features:
            raise ValueError(f"x: expected [T, B, {self.in_features}], got shape {tuple(x.shape)}")
        full = with_history(x, state, self.max_delay)
        y = _delay_kernels.run(full, self.weight, self.delay, self.bias, self.max_delay, self.kernel, self.sigma,
                               self.backend)
        return y, next_history(full, self.max_delay)

    def integer_steps(self, name: str = "DelayedLinear") -> Tensor:
        """The delays [out, in] rounded to whole steps (DelayRoundingWarning if that changes them)."""
        return rounded_steps(name, self.delay, self.max_delay)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, max_delay={self.max_delay}, "
                f"kernel={self.kernel!r}, bias={self.bias is not None}, backend={self.backend!r}")


__all__ = ["DelayRoundingWarning", "DelayedLinear", "LearnableDelay", "rounded_steps"]

"""Batch norm through time for [T, B, C, ...] sequences: BNTT, tdBN, and their folded forms.

* ``BatchNormThroughTime`` (BNTT, Kim & Panda 2021): separate statistics and scale per time step.
* ``TDBatchNorm`` (tdBN, Zheng et al. 2021): statistics pooled over time, batch and space, the
  normalised value scaled by ``alpha * threshold`` so that pre-activations match the neurons'
  threshold.
* ``StepAffine``: the inference form of a trained BNTT, y[t] = scale[t] x[t] + shift[t].
* ``fold_batchnorm``: a Conv/Linear followed by BN (torch BN, tdBN, or a time-invariant BNTT)
  as one Conv/Linear with the BN folded into its weights (eval mode, exact up to rounding).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _check_seq(name: str, x: Any, channels: int) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"{name}: expected a floating-point Tensor [T, B, C, ...], got {got}")
    if x.dim() < 3 or x.shape[2] != channels:
        raise ValueError(f"{name}: expected a time-major Tensor [T, B, {channels}, ...], got shape {tuple(x.shape)}")


def _step_index(state: Any, time_steps: int, length: int) -> int:
    t0 = 0 if state is None else state
    if isinstance(t0, Tensor) and t0.numel() == 1:
        t0 = int(t0.item())
    if isinstance(t0, bool) or not isinstance(t0, int) or t0 < 0:
        raise ValueError(f"state: expected the index of the first step (a non-negative int) or None, got {state!r}")
    if t0 + length > time_steps:
        raise ValueError(f"x: steps {t0}..{t0 + length - 1} exceed the {time_steps} time steps this layer has "
                         "statistics for (time_steps)")
    return t0


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


class BatchNormThroughTime(nn.Module):
    """BNTT: per-time-step batch norm (Kim & Panda 2021).

        y[t] = gamma[t] (x[t] - mean[t]) / sqrt(var[t] + eps) + beta[t]

    mean[t], var[t] are per-channel statistics of step t over batch and space (training) or the
    running averages of step t (eval). x: [T, B, C, ...] with T <= time_steps -> same shape.
    ``beta`` exists only with ``bias=True`` (the paper uses none). State is the index of the
    first step (``step`` advances it), so a sequence may be fed in chunks or one step at a time.
    """

    is_stateful = True

    def __init__(self, num_features: int, time_steps: int, eps: float = 1e-5, momentum: float = 0.1,
                 bias: bool = False) -> None:
        super().__init__()
        self.num_features = _positive_int("num_features", num_features)
        self.time_steps = _positive_int("time_steps", time_steps)
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum: expected a value in (0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive value, got {eps!r}")
        self.eps, self.momentum = float(eps), float(momentum)
        self.weight = nn.Parameter(torch.ones(time_steps, num_features))
        self.bias = nn.Parameter(torch.zeros(time_steps, num_features)) if bias else None
        self.register_buffer("running_mean", torch.zeros(time_steps, num_features))
        self.register_buffer("running_var", torch.ones(time_steps, num_features))

    def _normalise(self, x: Tensor, t0: int) -> Tensor:
        t = x.shape[0]
        view = (t, 1, self.num_features) + (1,) * (x.dim() - 3)
        dims = (1,) + tuple(range(3, x.dim()))
        if self.training:
            mean = x.mean(dims)
            var = x.var(dims, correction=0)
            n = x.numel() // (t * self.num_features)
            with torch.no_grad():
                unbiased = var * (n / max(n - 1, 1))
                rm, rv = self.running_mean[t0:t0 + t], self.running_var[t0:t0 + t]
                rm.mul_(1 - self.momentum).add_(self.momentum * mean.detach().to(rm.dtype))
                rv.mul_(1 - self.momentum).add_(self.momentum * unbiased.detach().to(rv.dtype))
        else:
            mean = self.running_mean[t0:t0 + t].to(x.dtype)
            var = self.running_var[t0:t0 + t].to(x.dtype)
        scale = self.weight[t0:t0 + t].to(x.dtype) / torch.sqrt(var + self.eps)
        y = (x - mean.reshape(view)) * scale.reshape(view)
        if self.bias is not None:
            y = y + self.bias[t0:t0 + t].to(x.dtype).reshape(view)
        return y

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, int]:
        _check_seq("x", x, self.num_features)
        t0 = _step_index(state, self.time_steps, x.shape[0])
        return self._normalise(x, t0), t0 + x.shape[0]

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, int]:
        """One step x_t [B, C, ...] at step index ``state`` (None = 0) -> (y_t, state + 1)."""
        y, t = self.forward(x_t.unsqueeze(0), state)
        return y[0], t

    def folded(self) -> StepAffine:
        """The eval-mode layer as a per-step affine map (running statistics folded in)."""
        scale = self.weight.detach() / torch.sqrt(self.running_var + self.eps)
        shift = -self.running_mean * scale
        if self.bias is not None:
            shift = shift + self.bias.detach()
        return StepAffine(scale, shift)

    def extra_repr(self) -> str:
        return f"{self.num_features}, time_steps={self.time_steps}, eps={self.eps}, momentum={self.momentum}, " \
               f"bias={self.bias is not None}"


class StepAffine(nn.Module):
    """y[t] = scale[t] x[t] + shift[t], per channel and step (the inference form of BNTT).

    scale, shift: [time_steps, C]; x: [T, B, C, ...]. State: the index of the first step.
    """

    is_stateful = True

    def __init__(self, scale: Tensor, shift: Tensor) -> None:
        super().__init__()
        if scale.dim() != 2 or scale.shape != shift.shape:
            raise ValueError(f"scale, shift: expected two [time_steps, C] tensors, got {tuple(scale.shape)} and "
                             f"{tuple(shift.shape)}")
        self.register_buffer("scale", scale.detach().clone())
        self.register_buffer("shift", shift.detach().clone())
        self.time_steps, self.num_features = scale.shape

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, int]:
        _check_seq("x", x, self.num_features)
        t0 = _step_index(state, self.time_steps, x.shape[0])
        t = x.shape[0]
        view = (t, 1, self.num_features) + (1,) * (x.dim() - 3)
        y = x * self.scale[t0:t0 + t].to(x.dtype).reshape(view) + self.shift[t0:t0 + t].to(x.dtype).reshape(view)
        return y, t0 + t

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, int]:
        y, t = self.forward(x_t.unsqueeze(0), state)
        return y[0], t

    def time_invariant(self) -> bool:
        return bool((self.scale == self.scale[:1]).all() and (self.shift == self.shift[:1]).all())


class TDBatchNorm(nn.Module):
    """tdBN: threshold-dependent batch norm (Zheng et al. 2021).

        y = weight * alpha * threshold * (x - mean) / sqrt(var + eps) + bias

    mean and var are per channel over time, batch and space: inside ``Sequential`` this layer
    sees the time steps folded into the batch, x: [T*B, C, ...]. ``threshold`` is the firing
    threshold of the neurons that follow; ``alpha`` is 1, or 1/sqrt(2) before a residual sum.
    """

    def __init__(self, num_features: int, threshold: float = 1.0, alpha: float = 1.0, eps: float = 1e-5,
                 momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = _positive_int("num_features", num_features)
        for name, value in (("threshold", threshold), ("alpha", alpha), ("eps", eps)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum: expected a value in (0, 1], got {momentum!r}")
        self.threshold, self.alpha, self.eps, self.momentum = float(threshold), float(alpha), float(eps), \
            float(momentum)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def effective_weight(self) -> Tensor:
        """weight * alpha * threshold: the per-channel scale of the normalised input."""
        return self.weight * (self.alpha * self.threshold)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[1] != self.num_features:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected [N, {self.num_features}, ...] (time folded into N), got {got}")
        return F.batch_norm(x, self.running_mean, self.running_var, self.effective_weight().to(x.dtype),
                            self.bias.to(x.dtype), self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, threshold={self.threshold}, alpha={self.alpha}, eps={self.eps}"


BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, TDBatchNorm, BatchNormThroughTime, StepAffine)


def batchnorm_affine(bn: nn.Module) -> tuple[Tensor, Tensor]:
    """The eval-mode map of a batch norm as per-channel (scale, shift): y = scale x + shift.

    A BNTT or StepAffine must be time-invariant (equal for every step), else ValueError.
    """
    if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d, TDBatchNorm)):
        if bn.running_var is None:
            raise ValueError(f"bn: {type(bn).__name__} without running statistics cannot be folded")
        weight = bn.effective_weight() if isinstance(bn, TDBatchNorm) else bn.weight
        weight = torch.ones_like(bn.running_var) if weight is None else weight.detach()
        scale = weight / torch.sqrt(bn.running_var + bn.eps)
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias.detach()
        return scale, shift
    if isinstance(bn, (BatchNormThroughTime, StepAffine)):
        aff = bn.folded() if isinstance(bn, BatchNormThroughTime) else bn
        if not aff.time_invariant():
            raise ValueError("bn: this BNTT has different statistics or scales per time step; it cannot be folded "
                             "into one Conv/Linear (use .folded() for a per-step StepAffine instead)")
        return aff.scale[0], aff.shift[0]
    raise TypeError(f"bn: expected one of {[t.__name__ for t in BN_TYPES]}, got {type(bn).__name__}")


def fold_batchnorm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of Conv1d/Conv2d/Linear ``layer`` with the eval-mode ``bn`` that follows it folded in.

        W' = scale[c] W[c],  b' = scale[c] b[c] + shift[c]
    """
    if not isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
        raise TypeError(f"layer: expected nn.Conv1d, nn.Conv2d or nn.Linear, got {type(layer).__name__}")
    scale, shift = batchnorm_affine(bn)
    out = layer.out_channels if isinstance(layer, (nn.Conv1d, nn.Conv2d)) else layer.out_features
    if scale.numel() != out:
        raise ValueError(f"bn: {scale.numel()} channels, but the layer before it has {out} outputs")
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        w = layer.weight.detach()
        b = layer.bias.detach() if layer.bias is not None else torch.zeros(out, dtype=w.dtype)
        scale, shift = scale.to(w.dtype), shift.to(w.dtype)
        folded.weight = nn.Parameter(w * scale.reshape((out,) + (1,) * (w.dim() - 1)))
        folded.bias = nn.Parameter(b * scale + shift)
    return folded

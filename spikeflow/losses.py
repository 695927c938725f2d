"""Losses on time-major spike or membrane outputs, and firing-rate regularizers.

Every loss is ``loss(outputs, targets)`` with outputs ``[T, B, O]`` and targets class indices
``[B]`` (``torch.long``) unless stated. ``num_classes=C`` selects a population code: the
``O = C * P`` outputs form consecutive groups of ``P`` neurons per class (neuron ``j`` belongs
to class ``j // P``); ``None`` means ``O == C``. Class scores come from :mod:`spikeflow.metrics`.

Reduction (identical to ``torch.nn.functional.cross_entropy``): with per-sample loss ``l_b`` and
class weight ``w`` (``None`` means all ones), ``"none"`` returns ``w[y_b] l_b`` of shape ``[B]``,
``"sum"`` returns ``sum_b w[y_b] l_b`` and ``"mean"`` returns ``sum_b w[y_b] l_b / sum_b w[y_b]``.
The weight follows the outputs' dtype and device, so float32 and float64 both work.
"""

from __future__ import annotations

import math
from typing import Iterable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .metrics import (
    check_outputs,
    check_sequence,
    check_targets,
    check_tensor,
    class_counts,
    class_first_spike_times,
    class_membrane,
    firing_rate,
    first_spike_time,
    float_view,
    resolve_classes,
)

__all__ = [
    "CERateLoss",
    "CECountLoss",
    "CEMaxMembraneLoss",
    "MSECountLoss",
    "MSEMembraneLoss",
    "MSETemporalLoss",
    "CETemporalLoss",
    "L1RateSparsity",
    "FiringRateBounds",
    "first_spike_time",
]

Reduction = Literal["mean", "sum", "none"]


def _check_reduction(reduction: str) -> str:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', received {reduction!r}")
    return reduction


def _check_weight(weight: Tensor | Sequence[float] | None) -> Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(weight)
    if w.dtype == torch.bool or w.is_complex():
        raise TypeError(f"weight: expected real per-class weights, received dtype {w.dtype}")
    if w.dim() != 1:
        raise ValueError(f"weight: expected a 1-D tensor of per-class weights [C], received shape {tuple(w.shape)}")
    w = w.detach().clone() if w.is_floating_point() else w.to(torch.get_default_dtype())
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"weight: expected finite non-negative per-class weights, received {w.tolist()}")
    return w


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a real number, received {type(value).__name__} {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name}: expected a finite number, received {value!r}")
    return out


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, received {type(value).__name__} {value!r}")
    return value


class _ClassLoss(nn.Module):
    """Shared reduction, class weight and target checks. Subclasses define ``forward``."""

    weight: Tensor | None

    def __init__(self, num_classes: int | None, reduction: Reduction, weight: Tensor | Sequence[float] | None):
        super().__init__()
        if num_classes is not None:
            resolve_classes(num_classes, num_classes)  # type/positivity check
        self.num_classes = num_classes
        self.reduction = _check_reduction(reduction)
        self.register_buffer("weight", _check_weight(weight))

    def _weight_for(self, c: int, like: Tensor) -> Tensor | None:
        if self.weight is None:
            return None
        if self.weight.shape[0] != c:
            raise ValueError(
                f"weight: expected one weight per class, shape [C] = ({c},), received shape {tuple(self.weight.shape)}"
            )
        return self.weight.to(dtype=like.dtype, device=like.device)

    def _targets(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, int]:
        c, _ = resolve_classes(outputs.shape[-1], self.num_classes)
        return check_targets(targets, outputs.shape[1], c).to(outputs.device), c

    def _check_batch(self, batch: int) -> None:
        if batch == 0 and self.reduction == "mean":
            raise ValueError(
                "outputs: the mean over an empty batch (B = 0) is undefined; received B = 0 "
                "(reduction='sum' gives 0 and reduction='none' an empty tensor)"
            )

    def _cross_entropy(self, logits: Tensor, targets: Tensor, c: int) -> Tensor:
        self._check_batch(logits.shape[0])
        return F.cross_entropy(logits, targets, weight=self._weight_for(c, logits), reduction=self.reduction)

    def _reduce(self, per_sample: Tensor, targets: Tensor, c: int) -> Tensor:
        self._check_batch(per_sample.shape[0])
        w = self._weight_for(c, per_sample)
        if w is not None:
            wb = w[targets]
            per_sample = per_sample * wb
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return per_sample.sum()
        denom = wb.sum() if w is not None else per_sample.new_tensor(float(per_sample.shape[0]))
        return per_sample.sum() / denom

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, reduction={self.reduction!r}"


# --------------------------------------------------------------------------- cross-entropy family
class CERateLoss(_ClassLoss):
    """Cross-entropy on the per-class spike rate.

    ``logits[b, c] = (1/T) sum_t sum_{j in c} s[t, b, j]``; ``loss = CE(logits, y)``.
    (snnTorch's ``ce_rate_loss`` instead averages a per-step CE of ``s[t]``; see the tests.)
    """

    def __init__(self, num_classes: int | None = None, reduction: Reduction = "mean", weight: Tensor | None = None):
        super().__init__(num_classes, reduction, weight)

    def forward(self, spikes: Tensor, targets: Tensor) -> Tensor:
        spikes = check_outputs(spikes, "spikes")
        y, c = self._targets(spikes, targets)
        return self._cross_entropy(class_counts(spikes, self.num_classes) / spikes.shape[0], y, c)


class CECountLoss(_ClassLoss):
    """Cross-entropy on the per-class spike count: ``logits[b, c] = sum_t sum_{j in c} s[t, b, j]``."""

    def __init__(self, num_classes: int | None = None, reduction: Reduction = "mean", weight: Tensor | None = None):
        super().__init__(num_classes, reduction, weight)

    def forward(self, spikes: Tensor, targets: Tensor) -> Tensor:
        spikes = check_outputs(spikes, "spikes")
        y, c = self._targets(spikes, targets)
        return self._cross_entropy(class_counts(spikes, self.num_classes), y, c)


class CEMaxMembraneLoss(_ClassLoss):
    """Cross-entropy on the peak membrane: ``logits[b, c] = mean_{j in c} max_t v[t, b, j]``.

    The group *mean* (not sum) keeps logits on the membrane's scale for any population size.
    """

    def __init__(self, num_classes: int | None = None, reduction: Reduction = "mean", weight: Tensor | None = None):
        super().__init__(num_classes, reduction, weight)

    def forward(self, mem: Tensor, targets: Tensor) -> Tensor:
        mem = check_outputs(mem, "mem")
        y, c = self._targets(mem, targets)
        return self._cross_entropy(class_membrane(mem, self.num_classes, "max"), y, c)


class CETemporalLoss(_ClassLoss):
    """Cross-entropy on negated first-spike times: ``logits[b, c] = -mean_{j in c} t_first[b, j]``.

    ``t_first`` is :func:`first_spike_time` (``T`` for a silent neuron); earlier spikes of the
    target class lower the loss. ``grad`` picks its backward (``"flip"`` or snnTorch's ``"sign"``).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
        weight: Tensor | None = None,
        grad: Literal["flip", "sign"] = "flip",
    ):
        super().__init__(num_classes, reduction, weight)
        if grad not in ("flip", "sign"):
            raise ValueError(f"grad: expected 'flip' or 'sign', received {grad!r}")
        self.grad = grad

    def forward(self, spikes: Tensor, targets: Tensor) -> Tensor:
        spikes = check_outputs(spikes, "spikes")
        y, c = self._targets(spikes, targets)
        return self._cross_entropy(-class_first_spike_times(spikes, self.num_classes, self.grad), y, c)


# --------------------------------------------------------------------------- dense (MSE) targets
def _dense_targets(y: Tensor, c: int, on: float, off: float, like: Tensor) -> Tensor:
    """One-hot ``[B, C]`` from checked indices ``y``: ``on`` at the target class, ``off`` elsewhere."""
    dense = torch.full((y.shape[0], c), float(off), dtype=like.dtype, device=like.device)
    return dense.scatter(1, y.to(like.device).unsqueeze(1), float(on))


class MSECountLoss(_ClassLoss):
    """MSE between class spike counts and target counts, divided by ``T``.

    ``n[b, c] = sum_t sum_{j in c} s[t, b, j]``; target ``r * T * P`` with ``r = correct_rate``
    for the target class and ``incorrect_rate`` otherwise (``P`` neurons per class);
    ``l_b = mean_c (n[b, c] - target[b, c])^2 / T``. Targets are not rounded (snnTorch truncates
    ``r * T * P`` to an int).
    """

    def __init__(
        self,
        correct_rate: float = 1.0,
        incorrect_rate: float = 0.0,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
        weight: Tensor | None = None,
    ):
        super().__init__(num_classes, reduction, weight)
        for name, rate in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
            if not 0.0 <= _finite(name, rate) <= 1.0:
                raise ValueError(f"{name}: expected a firing rate in [0, 1], received {rate}")
        self.correct_rate = float(correct_rate)
        self.incorrect_rate = float(incorrect_rate)

    def forward(self, spikes: Tensor, targets: Tensor) -> Tensor:
        spikes = check_outputs(spikes, "spikes")
        steps, batch, outputs = spikes.shape
        c, p = resolve_classes(outputs, self.num_classes)
        y = check_targets(targets, batch, c).to(spikes.device)
        counts = class_counts(spikes, self.num_classes)
        goal = _dense_targets(y, c, self.correct_rate * steps * p, self.incorrect_rate * steps * p, counts)
        per_sample = (counts - goal).pow(2).mean(-1) / steps
        return self._reduce(per_sample, y, c)


class MSEMembraneLoss(_ClassLoss):
    """MSE between the membrane trace and a target membrane, averaged over time and neurons.

    Targets, one of:
      * class indices ``[B]``: neuron ``j`` aims at ``on_target`` if it belongs to the target
        class (its whole population group), else ``off_target``, at every step;
      * ``time_varying_targets=False``: a float target membrane ``[B, O]`` used at every step;
      * ``time_varying_targets=True``: a float target trace ``[T, B, O]``.
    ``l_b = mean_{t, j} (v[t, b, j] - target[t, b, j])^2``. A class ``weight`` needs index targets.
    """

    def __init__(
        self,
        on_target: float = 1.0,
        off_target: float = 0.0,
        time_varying_targets: bool = False,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
        weight: Tensor | None = None,
    ):
        super().__init__(num_classes, reduction, weight)
        self.on_target = _finite("on_target", on_target)
        self.off_target = _finite("off_target", off_target)
        self.time_varying_targets = _flag("time_varying_targets", time_varying_targets)

    def forward(self, mem: Tensor, targets: Tensor) -> Tensor:
        mem = float_view(check_outputs(mem, "mem"))
        steps, batch, outputs = mem.shape
        c, p = resolve_classes(outputs, self.num_classes)
        targets = check_tensor(targets, "targets")
        if targets.is_floating_point():
            expected = (steps, batch, outputs) if self.time_varying_targets else (batch, outputs)
            if tuple(targets.shape) != expected:
                raise ValueError(
                    f"targets: expected a float target membrane of shape {list(expected)} "
                    f"(time_varying_targets={self.time_varying_targets}), received shape {tuple(targets.shape)}"
                )
            if self.weight is not None:
                raise ValueError("weight: a class weight needs class-index targets [B], received float targets")
            per_sample = (mem - targets.to(mem)).pow(2).mean(dim=(0, 2))
            return self._reduce(per_sample, torch.zeros(batch, dtype=torch.long, device=mem.device), c)
        if self.time_varying_targets:
            raise ValueError(
                f"targets: time_varying_targets=True expects a float target trace of shape "
                f"[T, B, O] = {[steps, batch, outputs]}, received dtype {targets.dtype} with shape "
                f"{tuple(targets.shape)}"
            )
        y = check_targets(targets, batch, c).to(mem.device)
        goal = _dense_targets(y, c, self.on_target, self.off_target, mem).repeat_interleave(p, dim=1)
        per_sample = (mem - goal).pow(2).mean(dim=(0, 2))
        return self._reduce(per_sample, y, c)


class MSETemporalLoss(_ClassLoss):
    """MSE between first-spike times and target times, both divided by ``T``.

    ``f[b, c] = mean_{j in c} t_first[b, j]`` (``T`` for a silent neuron). Target time
    ``on_target`` for the target class, ``off_target`` for the others; a negative target ``k``
    means ``T + 1 + k``, so the default ``-1`` is ``T``: "not within the window", which a silent
    neuron meets exactly at zero cost. (snnTorch maps ``-1`` to ``T - 1`` and also reports a silent
    neuron at ``T - 1``; our silent time is ``T``, so the same intent needs ``-1 -> T``.)
    Errors with ``|f - target| < tolerance`` count as zero. Float targets ``[B, C]`` are taken as
    target times directly. ``l_b = mean_c ((f[b, c] - target[b, c]) / T)^2``.
    """

    def __init__(
        self,
        on_target: float = 0,
        off_target: float = -1,
        tolerance: float = 0,
        num_classes: int | None = None,
        reduction: Reduction = "mean",
        weight: Tensor | None = None,
        grad: Literal["flip", "sign"] = "flip",
    ):
        super().__init__(num_classes, reduction, weight)
        if _finite("tolerance", tolerance) < 0:
            raise ValueError(f"tolerance: expected a non-negative number of steps, received {tolerance}")
        if grad not in ("flip", "sign"):
            raise ValueError(f"grad: expected 'flip' or 'sign', received {grad!r}")
        self.on_target = _finite("on_target", on_target)
        self.off_target = _finite("off_target", off_target)
        self.tolerance = float(tolerance)
        self.grad = grad

    def forward(self, spikes: Tensor, targets: Tensor) -> Tensor:
        spikes = check_outputs(spikes, "spikes")
        steps, batch, outputs = spikes.shape
        c, _ = resolve_classes(outputs, self.num_classes)
        times = class_first_spike_times(spikes, self.num_classes, self.grad)
        targets = check_tensor(targets, "targets")
        if targets.is_floating_point():
            if tuple(targets.shape) != (batch, c):
                raise ValueError(
                    f"targets: expected float target times of shape [B, C] = {[batch, c]}, received shape "
                    f"{tuple(targets.shape)}"
                )
            if self.weight is not None:
                raise ValueError("weight: a class weight needs class-index targets [B], received float targets")
            goal = targets.to(times)
            y = torch.zeros(batch, dtype=torch.long, device=times.device)
        else:
            y = check_targets(targets, batch, c).to(times.device)
            on = self.on_target if self.on_target >= 0 else steps + 1 + self.on_target
            off = self.off_target if self.off_target >= 0 else steps + 1 + self.off_target
            goal = _dense_targets(y, c, on, off, times)
        err = times - goal
        if self.tolerance > 0:
            err = torch.where(err.abs() < self.tolerance, torch.zeros_like(err), err)
        per_sample = (err / steps).pow(2).mean(-1)
        return self._reduce(per_sample, y, c)


# --------------------------------------------------------------------------- regularizers
def _spike_tensors(spikes: Iterable) -> list[Tensor]:
    out: list[Tensor] = []
    for i, item in enumerate(spikes):
        if isinstance(item, (list, tuple)):
            out.extend(_spike_tensors(item))
        else:
            out.append(check_sequence(item, f"spikes[{i}]"))
    if not out:
        raise ValueError("spikes: expected at least one spike tensor [T, B, ...], received none")
    return out


class _RateRegularizer(nn.Module):
    """``reg(s1, s2, ...)`` or ``reg([s1, s2])``: sum over layers of a per-neuron penalty on the
    firing rate ``r_j = mean_{t, b} s[t, b, j]``, reduced over neurons by mean or sum."""

    def __init__(self, weight: float, reduction: Literal["mean", "sum"]):
        super().__init__()
        if not 0 <= _finite("weight", weight):
            raise ValueError(f"weight: expected a non-negative penalty factor, received {weight}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction: expected 'mean' or 'sum' (over neurons), received {reduction!r}")
        self.weight = float(weight)
        self.reduction = reduction

    def penalty(self, rate: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, *spikes: Tensor | Sequence[Tensor]) -> Tensor:
        total = None
        for s in _spike_tensors(spikes):
            p = self.penalty(firing_rate(s))
            p = p.mean() if self.reduction == "mean" else p.sum()
            total = p if total is None else total + p.to(total)
        assert total is not None
        return self.weight * total


class L1RateSparsity(_RateRegularizer):
    """L1 penalty on firing rates: ``weight * sum_layers reduce_j |r_j|`` (mean over neurons by default)."""

    def __init__(self, weight: float = 1e-3, reduction: Literal["mean", "sum"] = "mean"):
        super().__init__(weight, reduction)

    def penalty(self, rate: Tensor) -> Tensor:
        return rate.abs()


class FiringRateBounds(_RateRegularizer):
    """Squared-hinge penalty keeping each neuron's rate in ``[lower, upper]`` (spikes per step).

    ``weight * sum_layers reduce_j [relu(lower - r_j)^2 + relu(r_j - upper)^2]``; a ``None`` bound
    is not enforced. Zero (with zero gradient) for every rate inside the bounds.
    """

    def __init__(
        self,
        lower: float | None = None,
        upper: float | None = None,
        weight: float = 1.0,
        reduction: Literal["mean", "sum"] = "mean",
    ):
        super().__init__(weight, reduction)
        if lower is None and upper is None:
            raise ValueError("lower, upper: expected at least one firing-rate bound, received both None")
        for name, bound in (("lower", lower), ("upper", upper)):
            if bound is not None:
                _finite(name, bound)
        if lower is not None and upper is not None and float(lower) > float(upper):
            raise ValueError(f"lower, upper: expected lower <= upper, received lower={lower}, upper={upper}")
        self.lower = None if lower is None else float(lower)
        self.upper = None if upper is None else float(upper)

    def penalty(self, rate: Tensor) -> Tensor:
        out = torch.zeros_like(rate)
        if self.lower is not None:
            out = out + F.relu(self.lower - rate).pow(2)
        if self.upper is not None:
            out = out + F.relu(rate - self.upper).pow(2)
        return out

"""Read-outs, accuracies and spike statistics for time-major spike outputs.

Shapes: output spikes and membranes are ``[T, B, O]``; class targets are integer indices ``[B]``.

Population code: with ``num_classes = C`` the ``O = C * P`` outputs form consecutive groups of
``P`` neurons, neuron ``j`` voting for class ``j // P``. ``num_classes=None`` means ``O == C``.

Class scores (all ``[B, C]``)::

    counts    n_c = sum_t sum_{j in c} s[t, b, j]                (spike counts add up)
    times     f_c = mean_{j in c} t_first[b, j]                  (no spike: t_first = T)
    membrane  m_c = mean_{j in c} R_t(v[t, b, j]),  R in {max, mean, last}

Ties: every prediction takes the *lowest* class index among equal scores (``torch.argmax`` /
``torch.argmin`` return the first extremum), so an all-silent output predicts class 0.

``first_spike_time`` (differentiable, used by the temporal losses) is defined here once and
re-exported by :mod:`spikeflow.losses`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "accuracy_rate",
    "accuracy_count",
    "accuracy_first_spike",
    "accuracy_membrane",
    "predict_rate",
    "predict_first_spike",
    "predict_membrane",
    "class_counts",
    "class_first_spike_times",
    "class_membrane",
    "pool_population",
    "first_spike_time",
    "firing_rate",
    "sparsity",
    "spike_count",
]

MembraneReduce = Literal["max", "mean", "last"]


# --------------------------------------------------------------------------- input checks
def _shape(x: Tensor) -> str:
    return str(tuple(x.shape))


def check_tensor(x: object, name: str) -> Tensor:
    """Raise TypeError unless ``x`` is a tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, received {type(x).__name__}")
    if x.device.type == "meta":
        raise ValueError(f"{name}: expected a tensor with data, received one on the meta device (shape {_shape(x)})")
    return x


def check_no_nan(x: Tensor, name: str) -> Tensor:
    """Raise ValueError if ``x`` holds NaN (it would be scored as class 0 or counted as a spike)."""
    if x.is_floating_point() and x.numel() and bool(torch.isnan(x).any()):
        raise ValueError(
            f"{name}: expected no NaN values, received {int(torch.isnan(x).sum())} NaN element(s) in shape "
            f"{_shape(x)} (a NaN output would be silently scored as class 0 or counted as a spike)"
        )
    return x


def check_outputs(x: object, name: str = "spikes") -> Tensor:
    """Check a time-major output ``[T, B, O]`` (rank 3, T >= 1)."""
    x = check_tensor(x, name)
    if x.dim() != 3:
        raise ValueError(
            f"{name}: expected a time-major tensor of shape [T, B, O] (rank 3), received shape "
            f"{_shape(x)} (rank {x.dim()}); add the time dimension first, e.g. x.unsqueeze(0) for T = 1"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one time step, received shape {_shape(x)}")
    if x.is_complex():
        raise TypeError(f"{name}: expected a real tensor, received dtype {x.dtype}")
    return x


def check_sequence(x: object, name: str = "spikes") -> Tensor:
    """Check a time-major sequence ``[T, B, ...]`` of rank >= 3 (statistics over neurons)."""
    x = check_tensor(x, name)
    if x.dim() < 3:
        raise ValueError(
            f"{name}: expected a time-major tensor of shape [T, B, ...] (rank >= 3), received shape "
            f"{_shape(x)} (rank {x.dim()})"
        )
    return x


def resolve_classes(num_outputs: int, num_classes: int | None) -> tuple[int, int]:
    """Return ``(C, P)`` for ``O = num_outputs`` outputs: C classes of P neurons each."""
    if num_classes is None:
        return num_outputs, 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes: expected a positive int or None, received {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes: expected a positive int or None, received {num_classes}")
    if num_outputs % num_classes:
        raise ValueError(
            f"num_classes: the number of outputs O = {num_outputs} must be a multiple of num_classes, "
            f"received num_classes = {num_classes} (O % num_classes = {num_outputs % num_classes})"
        )
    return num_classes, num_outputs // num_classes


def check_targets(targets: object, batch: int, num_classes: int, name: str = "targets") -> Tensor:
    """Check integer class indices ``[B]`` in ``[0, num_classes)``; return them as ``torch.long``."""
    targets = check_tensor(targets, name)
    if targets.dtype == torch.bool or targets.is_floating_point() or targets.is_complex():
        raise TypeError(
            f"{name}: expected integer class indices (torch.long) of shape [B] = ({batch},), "
            f"received dtype {targets.dtype} with shape {_shape(targets)}"
        )
    if targets.dim() != 1 or targets.shape[0] != batch:
        raise ValueError(
            f"{name}: expected shape [B] = ({batch},) to match the outputs' batch size, received shape "
            f"{_shape(targets)}"
        )
    check_class_range(targets, num_classes, name)
    return targets.long()


def check_class_range(indices: Tensor, num_classes: int, name: str = "targets") -> None:
    """Raise unless every integer class index lies in ``[0, num_classes)``."""
    if indices.numel():
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"{name}: expected class indices in [0, {num_classes - 1}], received values in [{lo}, {hi}] "
                f"(num_classes={num_classes})"
            )


def float_view(x: Tensor) -> Tensor:
    """Floating copy-free view when possible: floating tensors unchanged, others as float32."""
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


# --------------------------------------------------------------------------- population pooling
def pool_population(x: Tensor, num_classes: int | None = None, reduce: Literal["sum", "mean"] = "sum") -> Tensor:
    """Pool the last axis ``O = C * P`` into ``C`` class scores: ``[..., O] -> [..., C]``.

    ``y[..., c] = sum_{p < P} x[..., c * P + p]`` (``reduce="sum"``) or the mean over the group.
    """
    x = check_tensor(x, "x")
    if x.dim() < 1:
        raise ValueError(f"x: expected a tensor with an output axis [..., O], received shape {_shape(x)}")
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce: expected 'sum' or 'mean', received {reduce!r}")
    c, p = resolve_classes(x.shape[-1], num_classes)
    if p == 1:
        return x
    grouped = x.reshape(*x.shape[:-1], c, p)
    return grouped.sum(-1) if reduce == "sum" else grouped.mean(-1)


# --------------------------------------------------------------------------- first spike time
class _FirstSpikeTime(torch.autograd.Function):
    """Forward: index of the first non-zero step along axis 0 (``T`` if none).

    Backward ("flip", default): with binary spikes the first-spike time has the exact identity

        t_first = sum_{t=0}^{T-1} prod_{u<=t} (1 - s[u])

    (the number of leading silent steps). Its derivative, taken at the binarized spike train, is

        d t_first / d s[u] = -(k - u)      for u <  k   (adding a spike at u moves it from k to u)
                           = -(k2 - k)     for u == k   (removing it moves it to the next spike k2)
                           = 0             for u >  k

    with ``k`` the first and ``k2`` the second spike index (``T`` if absent). Each value is the
    exact change of t_first when that single spike is flipped, so the gradient is never
    positive: more spike mass earlier always means an earlier (smaller) time.

    Backward ("sign"): snnTorch's sign estimator, ``-1`` at step ``min(k, T-1)`` and 0 elsewhere.
    """

    @staticmethod
    def forward(ctx, spikes: Tensor, mode: str, out_dtype: torch.dtype) -> Tensor:  # type: ignore[override]
        cum = (spikes != 0).cumsum(0)
        first = (cum == 0).sum(0)
        second = (cum <= 1).sum(0)
        ctx.save_for_backward(first, second)
        ctx.mode = mode
        ctx.steps = spikes.shape[0]
        ctx.grad_dtype = spikes.dtype
        return first.to(out_dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        first, second = ctx.saved_tensors
        steps = ctx.steps
        u = torch.arange(steps, device=first.device).view(steps, *([1] * first.dim()))
        if ctx.mode == "flip":
            before = torch.where(u < first, u - first, torch.zeros_like(u))
            at = torch.where(u == first, first - second, torch.zeros_like(u))
            dt_ds = before + at
        else:
            dt_ds = -(u == first.clamp(max=steps - 1)).to(torch.long)
        grad = grad_output.unsqueeze(0) * dt_ds.to(grad_output.dtype)
        return grad.to(ctx.grad_dtype), None, None


def first_spike_time(spikes: Tensor, grad: Literal["flip", "sign"] = "flip") -> Tensor:
    """First-spike step index of every neuron: ``[T, B, ...] -> [B, ...]``, ``T`` if it never fires.

    Any non-zero value counts as a spike. Differentiable with respect to ``spikes``: ``grad="flip"``
    uses the exact single-flip derivative of ``t = sum_t prod_{u<=t}(1 - s[u])`` (see
    ``_FirstSpikeTime``; always <= 0, zero after the first spike), ``grad="sign"`` snnTorch's
    ``-1``-at-the-first-spike estimator. Returns the spikes' floating dtype (float32 otherwise).
    """
    spikes = check_tensor(spikes, "spikes")
    if spikes.dim() < 2:
        raise ValueError(
            f"spikes: expected a time-major tensor [T, B, ...] (rank >= 2), received shape {_shape(spikes)}"
        )
    if spikes.shape[0] < 1:
        raise ValueError(f"spikes: expected at least one time step, received shape {_shape(spikes)}")
    if grad not in ("flip", "sign"):
        raise ValueError(f"grad: expected 'flip' or 'sign', received {grad!r}")
    check_no_nan(spikes, "spikes")
    out_dtype = spikes.dtype if spikes.is_floating_point() else torch.get_default_dtype()
    return _FirstSpikeTime.apply(spikes, grad, out_dtype)


# --------------------------------------------------------------------------- class scores
def class_counts(spikes: Tensor, num_classes: int | None = None) -> Tensor:
    """Spike count per class ``[B, C]``: sum over time and over the class's population."""
    spikes = check_outputs(spikes, "spikes")
    return pool_population(float_view(spikes).sum(0), num_classes, "sum")


def class_first_spike_times(
    spikes: Tensor, num_classes: int | None = None, grad: Literal["flip", "sign"] = "flip"
) -> Tensor:
    """Mean first-spike time per class ``[B, C]`` (a silent neuron counts as ``T``)."""
    spikes = check_outputs(spikes, "spikes")
    resolve_classes(spikes.shape[-1], num_classes)
    return pool_population(first_spike_time(spikes, grad), num_classes, "mean")


def class_membrane(mem: Tensor, num_classes: int | None = None, reduce: MembraneReduce = "max") -> Tensor:
    """Membrane score per class ``[B, C]``: reduce over time (max/mean/last), then mean over the group."""
    mem = check_outputs(mem, "mem")
    resolve_classes(mem.shape[-1], num_classes)
    mem = float_view(mem)
    if reduce == "max":
        per_neuron = mem.amax(0)
    elif reduce == "mean":
        per_neuron = mem.mean(0)
    elif reduce == "last":
        per_neuron = mem[-1]
    else:
        raise ValueError(f"reduce: expected 'max', 'mean' or 'last', received {reduce!r}")
    return pool_population(per_neuron, num_classes, "mean")


# --------------------------------------------------------------------------- predictions
def predict_rate(spikes: Tensor, num_classes: int | None = None) -> Tensor:
    """Class with the most spikes ``[B]`` (ties: lowest class index). NaN is a ValueError."""
    return class_counts(check_no_nan(check_outputs(spikes, "spikes"), "spikes"), num_classes).argmax(-1)


def predict_first_spike(spikes: Tensor, num_classes: int | None = None) -> Tensor:
    """Class with the earliest (mean) first spike ``[B]`` (ties, incl. all silent: lowest index)."""
    with torch.no_grad():
        return class_first_spike_times(spikes, num_classes).argmin(-1)


def predict_membrane(mem: Tensor, num_classes: int | None = None, reduce: MembraneReduce = "max") -> Tensor:
    """Class with the highest reduced membrane ``[B]`` (ties: lowest class index). NaN is a ValueError."""
    return class_membrane(check_no_nan(check_outputs(mem, "mem"), "mem"), num_classes, reduce).argmax(-1)


def _accuracy(pred: Tensor, targets: Tensor, batch: int, num_classes: int) -> float:
    targets = check_targets(targets, batch, num_classes)
    if batch == 0:
        raise ValueError("targets: expected a non-empty batch, received shape (0,)")
    return int((pred == targets.to(pred.device)).sum()) / batch


# --------------------------------------------------------------------------- accuracies
def accuracy_rate(spikes: Tensor, targets: Tensor, num_classes: int | None = None) -> float:
    """Fraction of samples whose most-spiking class (population-summed count) equals the target.

    Ties go to the lowest class index (so an all-silent output predicts class 0).
    """
    spikes = check_outputs(spikes, "spikes")
    c, _ = resolve_classes(spikes.shape[-1], num_classes)
    return _accuracy(predict_rate(spikes, num_classes), targets, spikes.shape[1], c)


accuracy_count = accuracy_rate
"""Alias of :func:`accuracy_rate` (argmax of counts == argmax of rates)."""


def accuracy_first_spike(spikes: Tensor, targets: Tensor, num_classes: int | None = None) -> float:
    """Fraction of samples whose earliest-firing class equals the target.

    Population: the class time is the mean first-spike time of its group, silent neurons counting
    as ``T``. Ties go to the lowest class index.
    """
    spikes = check_outputs(spikes, "spikes")
    c, _ = resolve_classes(spikes.shape[-1], num_classes)
    return _accuracy(predict_first_spike(spikes, num_classes), targets, spikes.shape[1], c)


def accuracy_membrane(
    mem: Tensor, targets: Tensor, num_classes: int | None = None, reduce: MembraneReduce = "max"
) -> float:
    """Fraction of samples whose class with the highest membrane (max/mean/last over time,
    mean over the population group) equals the target. Ties go to the lowest class index."""
    mem = check_outputs(mem, "mem")
    c, _ = resolve_classes(mem.shape[-1], num_classes)
    return _accuracy(predict_membrane(mem, num_classes, reduce), targets, mem.shape[1], c)


# --------------------------------------------------------------------------- spike statistics
def firing_rate(spikes: Tensor) -> Tensor:
    """Mean spikes per step of every neuron, averaged over time and batch: ``[T, B, ...] -> [...]``."""
    spikes = check_sequence(spikes, "spikes")
    return float_view(spikes).mean(dim=(0, 1))


def sparsity(spikes: Tensor) -> Tensor:
    """Fraction of zero entries of ``spikes`` (0-d tensor; 1 means completely silent)."""
    spikes = check_tensor(spikes, "spikes")
    if spikes.numel() == 0:
        raise ValueError(f"spikes: expected a non-empty tensor, received shape {_shape(spikes)}")
    return (spikes == 0).to(torch.get_default_dtype()).mean()


def spike_count(spikes: Tensor) -> Tensor:
    """Number of spikes of every neuron in every sample, summed over time: ``[T, B, ...] -> [B, ...]``."""
    spikes = check_sequence(spikes, "spikes")
    return float_view(spikes).sum(0)

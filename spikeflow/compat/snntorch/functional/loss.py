"""snnTorch's loss classes with snnTorch's formulas (documented per class).

Outputs are ``[T, B, O]``; targets class indices ``[B]``. The inputs are validated with
spikeflow's checks (shape, integer targets in range, no NaN in spike counts).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ....metrics import check_no_nan, check_outputs, check_targets, pool_population, resolve_classes

__all__ = ["ce_rate_loss", "ce_count_loss", "ce_max_membrane_loss", "mse_count_loss", "mse_membrane_loss"]


class _Loss:
    __name__ = "loss"

    def __init__(self, reduction: str = "mean", weight: Any = None) -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.get_default_dtype())
            if not bool(torch.isfinite(weight).all()) or bool((weight < 0).any()):
                raise ValueError(f"weight: expected finite non-negative per-class weights, got {weight.tolist()}")
        self.reduction, self.weight = reduction, weight

    def _inner(self) -> str:
        return self.reduction if self.weight is None else "none"

    def _w(self, like: Tensor) -> Tensor | None:
        return None if self.weight is None else self.weight.to(dtype=like.dtype, device=like.device)

    def _finish(self, loss: Tensor) -> Tensor:
        return loss.mean() if self.weight is not None and self.reduction == "mean" else loss

    def _check(self, out: Tensor, targets: Tensor, classes: int, name: str = "spk_out") -> Tensor:
        out = check_no_nan(check_outputs(out, name), name)
        if out.shape[1] == 0 and self.reduction == "mean":
            raise ValueError(f"{name}: the mean over an empty batch (B = 0) is undefined")
        return check_targets(targets, out.shape[1], classes).to(out.device)

    def __call__(self, out: Tensor, targets: Tensor) -> Tensor:
        return self._finish(self._compute(out, targets))

    def _compute(self, out: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError


def _population(population_code: Any, num_classes: Any, outputs: int) -> int | None:
    if not isinstance(population_code, bool):
        raise TypeError(f"population_code: expected True or False, got {type(population_code).__name__}")
    if not population_code:
        return None
    if num_classes is False or num_classes is None:
        raise ValueError("num_classes: expected an int with population_code=True")
    return resolve_classes(outputs, num_classes)[0]


class ce_rate_loss(_Loss):  # noqa: N801 - snnTorch's name
    """Cross-entropy of the output at every step, averaged over steps:
    ``loss = (1/T) sum_t NLL(log_softmax(s[t]), y)`` (no population pooling, as snnTorch)."""

    __name__ = "ce_rate_loss"

    def __init__(self, population_code: bool = False, num_classes: Any = False, reduction: str = "mean",
                 weight: Any = None) -> None:
        super().__init__(reduction, weight)
        if population_code:
            raise ValueError("population_code: snnTorch's ce_rate_loss does not pool populations; use ce_count_loss")
        self.population_code, self.num_classes = population_code, num_classes

    def _compute(self, out: Tensor, targets: Tensor) -> Tensor:
        y = self._check(out, targets, out.shape[-1])
        logp = F.log_softmax(out, dim=-1)
        loss = sum(F.nll_loss(logp[t], y, weight=self._w(out), reduction=self._inner()) for t in range(out.shape[0]))
        return loss / out.shape[0]  # type: ignore[operator]


class ce_count_loss(_Loss):  # noqa: N801
    """Cross-entropy of the spike counts: ``NLL(log_softmax(sum_t s[t]), y)`` (population-pooled)."""

    __name__ = "ce_count_loss"

    def __init__(self, population_code: bool = False, num_classes: Any = False, reduction: str = "mean",
                 weight: Any = None) -> None:
        super().__init__(reduction, weight)
        self.population_code, self.num_classes = population_code, num_classes

    def _compute(self, out: Tensor, targets: Tensor) -> Tensor:
        c = _population(self.population_code, self.num_classes, out.shape[-1]) or out.shape[-1]
        y = self._check(out, targets, c)
        counts = pool_population(out.sum(0), c) if self.population_code else out.sum(0)
        return F.nll_loss(F.log_softmax(counts, -1), y, weight=self._w(out), reduction=self._inner())


class ce_max_membrane_loss(_Loss):  # noqa: N801
    """Cross-entropy of the peak membrane: ``NLL(log_softmax(max_t v[t]), y)``."""

    __name__ = "ce_max_membrane_loss"

    def _compute(self, out: Tensor, targets: Tensor) -> Tensor:
        y = self._check(out, targets, out.shape[-1], "mem_out")
        return F.nll_loss(F.log_softmax(out.max(0).values, -1), y, weight=self._w(out), reduction=self._inner())


class mse_count_loss(_Loss):  # noqa: N801
    """MSE of spike counts to ``int(T * rate [* P])`` targets, divided by T (snnTorch's truncation)."""

    __name__ = "mse_count_loss"

    def __init__(self, correct_rate: float = 1, incorrect_rate: float = 0, population_code: bool = False,
                 num_classes: Any = False, reduction: str = "mean", weight: Any = None) -> None:
        super().__init__(reduction, weight)
        for name, r in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
                raise ValueError(f"{name}: expected a rate in [0, 1], got {r!r}")
        self.correct_rate, self.incorrect_rate = correct_rate, incorrect_rate
        self.population_code, self.num_classes = population_code, num_classes

    def _compute(self, out: Tensor, targets: Tensor) -> Tensor:
        steps, _, outputs = out.shape
        c = _population(self.population_code, self.num_classes, outputs) or outputs
        y = self._check(out, targets, c)
        per_class = outputs / c if self.population_code else 1
        on, off = int(steps * self.correct_rate * per_class), int(steps * self.incorrect_rate * per_class)
        goal = torch.clamp(F.one_hot(y, c).to(out.dtype) * on, min=off)  # snnTorch's targets_convert
        counts = pool_population(out.sum(0), c) if self.population_code else out.sum(0)
        loss = F.mse_loss(counts, goal, reduction=self._inner())
        if self.weight is not None:
            loss = loss * self._w(out)[y].unsqueeze(-1)  # type: ignore[index]
        return loss / steps


class mse_membrane_loss(_Loss):  # noqa: N801
    """MSE of the membrane to on/off targets at every step, averaged over steps."""

    __name__ = "mse_membrane_loss"

    def __init__(self, time_var_targets: bool = False, on_target: float = 1, off_target: float = 0,
                 reduction: str = "mean", weight: Any = None) -> None:
        super().__init__(reduction, weight)
        if not isinstance(time_var_targets, bool):
            raise TypeError(f"time_var_targets: expected True or False, got {type(time_var_targets).__name__}")
        self.time_var_targets, self.on_target, self.off_target = time_var_targets, on_target, off_target

    def _compute(self, out: Tensor, targets: Tensor) -> Tensor:
        out = check_no_nan(check_outputs(out, "mem_out"), "mem_out")
        steps, _, c = out.shape
        if self.time_var_targets:
            raise ValueError("time_var_targets: time-varying targets are not provided by the compat layer")
        y = check_targets(targets, out.shape[1], c).to(out.device)
        goal = torch.clamp(F.one_hot(y, c).to(out.dtype) * self.on_target, min=self.off_target)
        loss = sum(F.mse_loss(out[t], goal, reduction=self._inner()) for t in range(steps))
        if self.weight is not None:
            loss = loss * self._w(out)[y].unsqueeze(-1)  # type: ignore[index]
        return loss / steps  # type: ignore[operator]

"""Periodic cosine learning-rate schedule ("periodic boosting"), stepped every iteration.

    lr(t) = eta_min + (lr0 - eta_min) * (1 + cos(pi * t / period)) / 2

falls from lr0 to eta_min over ``period`` iterations and rises back to lr0 over the next
``period`` (it never stops: the rate is periodic with period 2 * period), as used to escape
local minima when training quantized SNNs (Eshraghian et al., AICAS 2022: Adam with
CosineAnnealingLR stepped per iteration, T_max = 10 epochs of iterations). ``restart=True``
jumps back to lr0 after each fall instead (SGDR-style warm restarts). The rate is a closed-form
function of the step count, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler


class PeriodicCosineLR(LRScheduler):
    def __init__(self, optimizer: torch.optim.Optimizer, period: int, eta_min: float = 0.0, restart: bool = False,
                 last_epoch: int = -1) -> None:
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ValueError(f"period: expected a positive int (iterations), got {period!r}")
        if isinstance(eta_min, bool) or not isinstance(eta_min, (int, float)) or not math.isfinite(eta_min) \
                or eta_min < 0:
            raise ValueError(f"eta_min: expected a finite number >= 0, got {eta_min!r}")
        if not isinstance(restart, bool):
            raise TypeError(f"restart: expected a bool, got {restart!r}")
        self.period, self.eta_min, self.restart = period, float(eta_min), restart
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        """(lr(step) - eta_min) / (lr0 - eta_min), in [0, 1]."""
        phase = (step % self.period) if self.restart else step
        return (1.0 + math.cos(math.pi * phase / self.period)) / 2.0

    def get_lr(self) -> list[float]:  # type: ignore[override]
        f = self.factor(self.last_epoch)
        return [self.eta_min + (base - self.eta_min) * f for base in self.base_lrs]

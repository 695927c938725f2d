"""A cosine learning-rate schedule that can be extended on resume without restarting upward.

``CosineSchedule(optimizer, total_epochs)`` gives epoch e (counting from 0) the rate
``eta_min + (base - eta_min) * (1 + cos(pi * min(e, T) / T)) / 2`` with ``T = total_epochs``
(closed form; after T it stays at ``eta_min``). ``set_total_epochs(n)`` re-plans the cosine for
n epochs: the remaining epochs follow the n-epoch curve from where the run stands (the rate a run
planned for n epochs from the start has there), instead of climbing back towards the base rate
as torch's CosineAnnealingLR does when stepped past T_max. (An extension much longer than the
original plan can sit above the last rate used, since the longer curve decays more slowly.)
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler


class CosineSchedule(LRScheduler):
    """Cosine decay over ``total_epochs`` epochs (stepped once per epoch); extendable on resume."""

    def __init__(self, optimizer: torch.optim.Optimizer, total_epochs: int, eta_min: float = 0.0) -> None:
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ValueError(f"total_epochs: expected a positive int, got {total_epochs!r}")
        self.total_epochs = total_epochs
        self.eta_min = float(eta_min)
        self.plans: list[list[int]] = [[0, total_epochs]]  # (from epoch index, planned total)
        super().__init__(optimizer)

    def _rate(self, base: float, epoch: int) -> float:
        t = min(epoch, self.total_epochs) / self.total_epochs
        return self.eta_min + (base - self.eta_min) * (1.0 + math.cos(math.pi * t)) / 2.0

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [self._rate(float(base), int(self.last_epoch)) for base in self.base_lrs]

    def set_total_epochs(self, total_epochs: int) -> None:
        """Re-plan for ``total_epochs`` epochs from the current one; sets the optimizer's rates now."""
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ValueError(f"total_epochs: expected a positive int, got {total_epochs!r}")
        if total_epochs == self.total_epochs:
            return
        self.total_epochs = total_epochs
        self.plans.append([int(self.last_epoch), total_epochs])
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

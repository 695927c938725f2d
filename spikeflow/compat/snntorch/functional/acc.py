"""snnTorch's accuracy functions (spike count argmax), with NaN outputs refused."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from ....metrics import check_no_nan, check_outputs, check_targets, pool_population, resolve_classes

__all__ = ["accuracy_rate"]


def accuracy_rate(spk_out: Tensor, targets: Tensor, population_code: bool = False, num_classes: Any = False) -> float:
    """Fraction of samples whose class with the most spikes (summed over time) is the target."""
    spk_out = check_no_nan(check_outputs(spk_out, "spk_out"), "spk_out")
    if population_code:
        c = resolve_classes(spk_out.shape[-1], num_classes)[0]
        counts = pool_population(spk_out.sum(0), c)
    else:
        c = spk_out.shape[-1]
        counts = spk_out.sum(0)
    if spk_out.shape[1] == 0:
        raise ValueError("spk_out: expected a non-empty batch, got B = 0")
    y = check_targets(targets, spk_out.shape[1], c)
    _, idx = counts.max(1)
    return float(np.mean((y.to(idx.device) == idx).detach().cpu().numpy()))

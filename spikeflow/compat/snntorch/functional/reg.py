"""snnTorch's ``l1_rate_sparsity`` regularizer."""

from __future__ import annotations

from torch import Tensor

from ....metrics import check_no_nan, check_tensor

__all__ = ["l1_rate_sparsity"]


class l1_rate_sparsity:  # noqa: N801 - snnTorch's name
    """``Lambda * sum(spikes)`` over every element (time, batch, neurons)."""

    __name__ = "l1_rate_sparsity"

    def __init__(self, Lambda: float = 1e-5) -> None:  # noqa: N803
        if isinstance(Lambda, bool) or not isinstance(Lambda, (int, float)) or not 0 <= Lambda < float("inf"):
            raise ValueError(f"Lambda: expected a finite number >= 0, got {Lambda!r}")
        self.Lambda = float(Lambda)

    def __call__(self, spk_out: Tensor) -> Tensor:
        return self.Lambda * check_no_nan(check_tensor(spk_out, "spk_out"), "spk_out").sum()

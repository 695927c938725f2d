"""Fused CPU kernels for the alpha neuron (being written: declines every call for now)."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from ..functional.options import SpikeOptions


def supports(model: str, x: Tensor, opts: SpikeOptions | None) -> bool:
    return False


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    raise NotImplementedError("not fused yet")

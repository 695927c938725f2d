"""Reference backend: each model's torch step (``spikeflow.dynamics``) looped under autograd.

This is the oracle every fused kernel is tested against.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from torch import Tensor

from ..dynamics import MODELS, run_steps
from ..dynamics.options import SpikeOptions


class _Steps(dict):  # type: ignore[type-arg]
    """model name -> step(x_t, state, opts, **params), read from the registered specs."""

    def __missing__(self, model: str) -> Callable[..., tuple[Tensor, Any]]:
        return MODELS[model].step


STEPS: dict[str, Callable[..., tuple[Tensor, Any]]] = _Steps()


def run(
    model: str, x: Tensor, state: NamedTuple, params: dict[str, Any], opts: SpikeOptions | None, record: bool
) -> tuple[Tensor, NamedTuple]:
    """Run ``model`` over x [T, B, ...] from ``state``; see ``spikeflow.kernels.run``."""
    step = MODELS[model].step
    return run_steps(lambda xt, st: step(xt, st, opts, **params), x, state, record)

"""Run any step function over a time-major sequence."""

from __future__ import annotations

from typing import Callable, NamedTuple, TypeVar

import torch
from torch import Tensor

S = TypeVar("S", bound=NamedTuple)


def run_steps(
    step: Callable[[Tensor, S], tuple[Tensor, S]], x: Tensor, state: S, record: bool = False
) -> tuple[Tensor, S]:
    """Apply ``step`` for t = 0..T-1 over x [T, B, ...].

    Returns (outputs [T, B, ...], final state), or with ``record`` (outputs, state trace)
    where every field of the trace is stacked to [T, B, ...].
    """
    outputs = []
    trace: list[S] = []
    # unbind, not x[t]: indexing would make every step's backward allocate a full [T, ...] gradient
    for x_t in x.unbind(0):
        out, state = step(x_t, state)
        outputs.append(out)
        if record:
            trace.append(state)
    out_seq = torch.stack(outputs)
    if record:
        return out_seq, type(state)(*(torch.stack(f) for f in zip(*trace, strict=True)))
    return out_seq, state

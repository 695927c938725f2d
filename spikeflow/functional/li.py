"""Non-spiking leaky integrators (readouts) for one time step."""

from __future__ import annotations

from torch import Tensor

from .states import LeakyState, SynapticState


def li_step(x: Tensor, state: LeakyState, beta: Tensor) -> tuple[Tensor, LeakyState]:
    """v[t] = beta v[t-1] + x[t]; output v[t]. x, state.v: [B, ...]."""
    v = beta * state.v + x
    return v, LeakyState(v)


def cuba_li_step(x: Tensor, state: SynapticState, alpha: Tensor, beta: Tensor) -> tuple[Tensor, SynapticState]:
    """i[t] = alpha i[t-1] + x[t];  v[t] = beta v[t-1] + i[t]; output v[t]."""
    i = alpha * state.i + x
    v = beta * state.v + i
    return v, SynapticState(i, v)

"""Adaptive-threshold LIF (ALIF / LSNN): state, reference step and rows."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from .options import SpikeOptions
from .spec import ModelSpec, register
from .spiking import fire, same_step_reset


class AdaptiveState(NamedTuple):
    """Adaptive-threshold LIF: membrane v, adaptation a, last spike z (0/1)."""

    v: Tensor
    a: Tensor
    z: Tensor


def adaptive_step(
    x: Tensor,
    state: AdaptiveState,
    beta: Tensor,
    rho: Tensor,
    adaptation: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
) -> tuple[Tensor, AdaptiveState]:
    """One step of an adaptive-threshold LIF neuron (Bellec et al. 2018).

        a[t] = rho a[t-1] + adaptation z[t-1]         (each spike raises the threshold)
        b[t] = thr + a[t]                             (effective threshold)
        v[t] = beta v[t-1] + x[t] - z[t-1] b[t-1]     (subtract, delayed)
        v[t] = beta (1 - z[t-1]) v[t-1] + x[t]        (zero, delayed)
        z[t] = H(v[t] - b[t]);  output = graded z[t]
        same-step reset: v[t] -= z[t] b[t]  or  v[t] *= 1 - z[t]

    state.z is the previous spike (0/1); the adaptation keeps its gradient through z.
    """
    v_prev, a_prev, z_prev = state
    b_prev = threshold + a_prev
    a = rho * a_prev + adaptation * z_prev
    b = threshold + a
    v = beta * v_prev + x
    if opts.reset != "none" and opts.reset_delay:
        r = z_prev.detach() if opts.detach else z_prev
        v = v - r * b_prev if opts.reset == "subtract" else v - beta * r * v_prev
    spikes = fire(v, b, opts)
    v = same_step_reset(v, spikes, b, opts)
    return spikes * graded, AdaptiveState(v, a, spikes)


def adaptive_row(x: Any, v: Any, a: Any, z: Any, r: Any, beta: Any, rho: Any, adaptation: Any, threshold: Any,
                 ds: Any, dz: Any, one: Any) -> Any:
    """a' = rho a + adaptation z;  u = beta v + x - ds r (thr + a) - beta (dz r) v;  b = thr + a'."""
    an = rho * a + adaptation * z
    u = beta * v + x
    u = u - ds * r * (threshold + a)
    u = u - beta * (dz * r) * v
    return u, threshold + an, an


def adaptive_row_vjp(du: Any, db: Any, dan: Any, x: Any, v: Any, a: Any, z: Any, r: Any, beta: Any, rho: Any,
                     adaptation: Any, threshold: Any, ds: Any, dz: Any, one: Any) -> Any:
    dat = dan + db
    dbp = -(ds * r) * du
    dr = -(ds * du * (threshold + a)) - dz * du * beta * v
    return (du, beta * du - dz * (du * beta * r), rho * dat + dbp, adaptation * dat, dr,
            du * v - dz * (du * r * v), dat * a, dat * z, db + dbp)


ADAPTIVE = register(ModelSpec(
    "adaptive", AdaptiveState, ("beta", "rho", "adaptation", "threshold", "graded"),
    lambda x, s, opts, beta, rho, adaptation, threshold, graded: adaptive_step(
        x, s, beta, rho, adaptation, threshold, graded, opts),
    adaptive_row, adaptive_row_vjp, ("beta", "rho", "adaptation", "threshold"), spike_field="z",
))

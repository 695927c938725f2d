"""Adaptive-threshold LIF (ALIF / LSNN) dynamics for one time step."""

from __future__ import annotations

from torch import Tensor

from .options import SpikeOptions
from .spiking import quantize_membrane, fire, same_step_reset
from .states import AdaptiveState


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
    v = quantize_membrane(v, opts)
    spikes = fire(v, b, opts)
    v = same_step_reset(v, spikes, b, opts)
    return spikes * graded, AdaptiveState(v, a, spikes)

"""First-order integrate-and-fire dynamics (Leaky, IF, Lapicque) for one time step."""

from __future__ import annotations

from torch import Tensor

from .options import SpikeOptions
from .spiking import quantize_membrane, delayed_reset_signal, fire, same_step_reset
from .states import LeakyState


def first_order_step(
    x: Tensor,
    state: LeakyState,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
    zero_keeps_input: bool = True,
) -> tuple[Tensor, LeakyState]:
    """One step of a first-order LIF neuron.

        R[t] = H(v[t-1] - thr)                        (delayed reset only)
        v[t] = beta v[t-1] + x[t] - R[t] thr          (reset "subtract")
        v[t] = beta (1 - R[t]) v[t-1] + x[t]          (reset "zero", zero_keeps_input)
        v[t] = (beta v[t-1] + x[t]) (1 - R[t])        (reset "zero", not zero_keeps_input)
        S[t] = H(v[t] - thr);  output = graded * S[t]
        same-step reset (reset_delay False): v[t] -= S[t] thr  or  v[t] *= 1 - S[t]

    x, state.v: [B, ...]; beta, threshold, graded: scalars or broadcastable per-neuron tensors.
    """
    v_prev = state.v
    r = delayed_reset_signal(v_prev, threshold, opts)
    if r is None:
        v = beta * v_prev + x
    elif opts.reset == "subtract":
        v = beta * v_prev + x - r * threshold
    elif zero_keeps_input:
        v = beta * (1 - r) * v_prev + x
    else:
        v = (beta * v_prev + x) * (1 - r)
    v = quantize_membrane(v, opts)
    spikes = fire(v, threshold, opts)
    v = same_step_reset(v, spikes, threshold, opts)
    return spikes * graded, LeakyState(v)


def leaky_step(
    x: Tensor, state: LeakyState, beta: Tensor, threshold: Tensor, graded: Tensor | float, opts: SpikeOptions
) -> tuple[Tensor, LeakyState]:
    """Leaky (snnTorch ``snn.Leaky``): first_order_step with the zero reset keeping the input."""
    return first_order_step(x, state, beta, threshold, graded, opts, zero_keeps_input=True)


def lapicque_step(
    x: Tensor,
    state: LeakyState,
    decay: Tensor,
    gain: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
) -> tuple[Tensor, LeakyState]:
    """Lapicque RC neuron (forward Euler of C dv/dt = -v/R + I), as snnTorch's ``Lapicque``:

        v[t] = (1 - dt/(R C)) v[t-1] + (dt/C) x[t]   (decay = 1 - dt/(RC), gain = dt/C)

    with the reset rules of first_order_step (zero reset clears the input too).
    """
    return first_order_step(gain * x, state, decay, threshold, graded, opts, zero_keeps_input=False)

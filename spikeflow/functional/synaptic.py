"""Current-based (second-order) LIF dynamics for one time step."""

from __future__ import annotations

from torch import Tensor

from .options import SpikeOptions
from .spiking import quantize_membrane, delayed_reset_signal, fire, same_step_reset
from .states import SynapticState


def synaptic_step(
    x: Tensor,
    state: SynapticState,
    alpha: Tensor,
    beta: Tensor,
    threshold: Tensor,
    graded: Tensor | float,
    opts: SpikeOptions,
) -> tuple[Tensor, SynapticState]:
    """One step of a current-based LIF neuron (snnTorch ``snn.Synaptic``).

        i[t] = alpha i[t-1] + x[t]
        v[t] = beta v[t-1] + i[t] - R[t] thr        (subtract; R[t] = H(v[t-1] - thr))
        v[t] = (beta v[t-1] + i[t]) (1 - R[t])      (zero; the current is not reset)
        S[t] = H(v[t] - thr); same-step reset as in first_order_step.

    x, state.i, state.v: [B, ...].
    """
    r = delayed_reset_signal(state.v, threshold, opts)
    i = alpha * state.i + x
    v = beta * state.v + i
    if r is not None:
        v = v - r * threshold if opts.reset == "subtract" else v * (1 - r)
    v = quantize_membrane(v, opts)
    spikes = fire(v, threshold, opts)
    v = same_step_reset(v, spikes, threshold, opts)
    return spikes * graded, SynapticState(i, v)

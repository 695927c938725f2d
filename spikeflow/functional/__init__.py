"""Pure neuron dynamics: one function per model for one step; no nn.Module, no state held.

The equations live in ``spikeflow.dynamics`` (one module per model family); this package
re-exports the torch steps and states under their historical names.
"""

from ..dynamics.adaptive import AdaptiveState, adaptive_step
from ..dynamics.alpha import AlphaState, alpha_step
from ..dynamics.lif import (
    LeakyState,
    SynapticState,
    cuba_li_step,
    first_order_step,
    lapicque_step,
    leaky_step,
    li_step,
    synaptic_step,
)
from ..dynamics.options import RESET_MODES, SpikeOptions, make_options
from ..dynamics.recurrent import RLeakyState, RSynapticState, recurrent_input, rleaky_step, rsynaptic_step
from ..dynamics.sequence import run_steps
from ..dynamics.spiking import delayed_reset_signal, fire, same_step_reset, winner_mask

__all__ = [
    "AdaptiveState", "AlphaState", "LeakyState", "RLeakyState", "RSynapticState", "SynapticState",
    "RESET_MODES", "SpikeOptions", "make_options",
    "adaptive_step", "alpha_step", "first_order_step", "lapicque_step", "leaky_step",
    "cuba_li_step", "li_step", "synaptic_step", "recurrent_input", "rleaky_step", "rsynaptic_step",
    "delayed_reset_signal", "fire", "same_step_reset", "winner_mask", "run_steps",
]

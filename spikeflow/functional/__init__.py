"""Pure neuron dynamics: one function per model for one step; no nn.Module, no state held."""

from .adaptive import adaptive_step
from .alpha import alpha_step
from .leaky import first_order_step, lapicque_step, leaky_step
from .li import cuba_li_step, li_step
from .options import RESET_MODES, SpikeOptions, make_options
from .recurrent import recurrent_input, rleaky_step, rsynaptic_step
from .resonate import ResonateOptions, ResonateParams, ResonateState, make_resonate_options, resonate_step
from .sequence import run_steps
from .spiking import delayed_reset_signal, fire, same_step_reset, winner_mask
from .states import AdaptiveState, AlphaState, LeakyState, RLeakyState, RSynapticState, SynapticState
from .synaptic import synaptic_step

__all__ = [
    "AdaptiveState", "AlphaState", "LeakyState", "RLeakyState", "RSynapticState", "SynapticState",
    "RESET_MODES", "SpikeOptions", "make_options",
    "adaptive_step", "alpha_step", "first_order_step", "lapicque_step", "leaky_step",
    "cuba_li_step", "li_step", "synaptic_step", "recurrent_input", "rleaky_step", "rsynaptic_step",
    "ResonateOptions", "ResonateParams", "ResonateState", "make_resonate_options", "resonate_step",
    "delayed_reset_signal", "fire", "same_step_reset", "winner_mask", "run_steps",
]

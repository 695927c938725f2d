"""Neuron dynamics, one module per model family: state and parameter types, the torch step
(the reference) and the per-neuron rows the fused kernels compile. ``MODELS`` maps each
registered model name to its ``ModelSpec``; see ``spec.py`` and DYNAMICS_API.md.

Registration: each model module calls ``register(ModelSpec(...))`` at import; add its import
below (one line) and every kernel, the neuron modules and the conformance suite see it.
"""

from .adaptive import AdaptiveState  # noqa: E402
from .alpha import AlphaState  # noqa: E402

# registration: one line per model family
from .lif import LeakyState, SynapticState  # noqa: E402  (leaky, lapicque, synaptic, li, cuba_li)
from .options import RESET_MODES, SpikeOptions, make_options
from .recurrent import RLeakyState, RSynapticState  # noqa: E402  (reference only; fused by the dense driver)
from .resonate import ResonateState  # noqa: E402  (resonate, resonate_exact)
from .sequence import run_steps
from .spec import MODELS, ModelSpec, register
from .spiking import delayed_reset_signal, fire, same_step_reset, winner_mask

__all__ = [
    "MODELS", "ModelSpec", "register", "RESET_MODES", "SpikeOptions", "make_options", "run_steps",
    "delayed_reset_signal", "fire", "same_step_reset", "winner_mask",
    "LeakyState", "SynapticState", "AlphaState", "AdaptiveState", "RLeakyState", "RSynapticState",
    "ResonateState",
]

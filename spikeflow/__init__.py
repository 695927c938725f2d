"""spikeflow: spiking neural networks on PyTorch.

Sequences are time-major ``[T, B, ...]``. Neuron modules return ``(output, state)`` and
step with ``.step(x_t, state)``; state is explicit and never stored on the module.
"""

from . import functional, kernels, surrogate
from .layers import Sequential, TimeDistributed
from .neurons import IF, LI, AdaptiveLeaky, Alpha, Lapicque, Leaky, NeuronBase, RLeaky, RSynaptic, Synaptic

__version__ = "0.1.0"

__all__ = [
    "AdaptiveLeaky", "Alpha", "IF", "LI", "Lapicque", "Leaky", "NeuronBase", "RLeaky", "RSynaptic",
    "Sequential", "Synaptic", "TimeDistributed", "functional", "kernels", "surrogate",
]

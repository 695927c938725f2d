"""Run snnTorch 1.0 code unchanged on spikeflow: ``import spikeflow.compat.snntorch as snn``.

Neurons (``Leaky``, ``Synaptic``, ``Alpha``, ``Lapicque``, ``RLeaky``, ``RSynaptic``,
``SLSTM``, ``SConv2dLSTM``) take snnTorch's arguments and per-step calls and compute with
spikeflow's core step functions; ``spikegen``, ``surrogate``, ``functional`` (``SF``),
``utils``, ``spikeplot`` and ``backprop`` mirror snnTorch's modules. Nothing here imports
snnTorch. Differences from snnTorch are listed in docs/migrating-from-snntorch.md.
"""

from . import backprop, functional, spikegen, spikeplot, surrogate, utils
from ._lstm import SLSTM, SConv2dLSTM
from ._neurons import LIF, Alpha, Lapicque, Leaky, RLeaky, RSynaptic, SpikingNeuron, Synaptic

__version__ = "1.0.0+spikeflow"

__all__ = [
    "Alpha", "LIF", "Lapicque", "Leaky", "RLeaky", "RSynaptic", "SConv2dLSTM", "SLSTM", "SpikingNeuron", "Synaptic",
    "backprop", "functional", "spikegen", "spikeplot", "surrogate", "utils",
]

"""Neuron modules: hold parameters, call the functional dynamics through a kernel backend."""

from .adaptive import AdaptiveLeaky
from .base import NeuronBase
from .checks import finite_checks, set_finite_checks
from .leaky import IF, Lapicque, Leaky
from .li import LI
from .recurrent import RLeaky, RSynaptic
from .resonate import ResonateFire
from .synaptic import Alpha, Synaptic

__all__ = ["AdaptiveLeaky", "Alpha", "IF", "LI", "Lapicque", "Leaky", "NeuronBase", "ResonateFire", "RLeaky",
           "RSynaptic", "Synaptic",
           "finite_checks", "set_finite_checks"]

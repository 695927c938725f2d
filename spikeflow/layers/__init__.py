"""Time-distributed wrappers, containers and NIR-level layers."""

from .delay import Delay
from .elementwise import Scale, Threshold
from .learnable_delay import DelayedLinear, DelayRoundingWarning, LearnableDelay
from .nir_neurons import DrivenNeuron
from .pool import SumPool2d
from .sequential import Sequential, TimeDistributed, is_stateful, time_distributed
from .sparse import EventLinear, event_linear
from .sparse_conv import EventConv2d, event_conv2d

__all__ = [
    "Delay", "DelayedLinear", "DelayRoundingWarning", "LearnableDelay",
    "DrivenNeuron", "EventConv2d", "event_conv2d", "EventLinear", "event_linear", "Scale", "Sequential",
    "SumPool2d", "Threshold", "TimeDistributed", "is_stateful", "time_distributed",
]

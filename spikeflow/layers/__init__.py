"""Time-distributed wrappers, containers and NIR-level layers."""

from .delay import Delay
from .dropout import SequenceDropout
from .elementwise import Scale, Threshold
from .learnable_delay import DelayedLinear, DelayRoundingWarning, LearnableDelay
from .nir_neurons import DrivenNeuron
from .norm import BatchNormThroughTime, StepAffine, TDBatchNorm, batchnorm_affine, fold_batchnorm
from .pool import AvgPool2d, Flatten, MaxPool2d, SumPool2d
from .recurrence import RecurrentNeuron
from .sequential import Sequential, TimeDistributed, is_stateful, time_distributed
from .sparse import EventLinear, event_linear
from .sparse_conv import EventConv2d, event_conv2d

__all__ = [
    "AvgPool2d", "BatchNormThroughTime", "Delay", "DelayedLinear", "DelayRoundingWarning", "LearnableDelay",
    "DrivenNeuron", "EventConv2d", "event_conv2d", "EventLinear",
    "event_linear", "Flatten", "MaxPool2d", "RecurrentNeuron", "Scale", "SequenceDropout", "Sequential",
    "StepAffine", "SumPool2d", "TDBatchNorm", "Threshold", "TimeDistributed", "batchnorm_affine",
    "fold_batchnorm", "is_stateful", "time_distributed",
]

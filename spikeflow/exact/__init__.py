"""EventProp: exact gradients through spike times for current-based LIF networks.

Spike trains are spike-time tensors ``[B, N, K]`` (+inf = no spike). Two engines share one
interface: ``lif_discrete`` (dt grid, fast, used for training) and ``lif_event`` (exact spike
times by root finding; the oracle for tests). ``li_discrete`` is a non-spiking readout.
"""

from .discrete import li_discrete, lif_discrete
from .event import lif_event
from .layers import LIFLayer, LIReadout
from .losses import (
    accuracy_from_voltage,
    bump_silent,
    bump_silent_labels,
    first_spike_times,
    max_voltage_cross_entropy,
    sum_exp_voltage_cross_entropy,
    sum_voltage_cross_entropy,
    ttfs_correct,
    ttfs_cross_entropy,
    ttfs_predict,
)
from .params import LIFParams

__all__ = [
    "LIFLayer", "LIFParams", "LIReadout", "accuracy_from_voltage", "bump_silent", "bump_silent_labels",
    "first_spike_times",
    "li_discrete", "lif_discrete", "lif_event", "max_voltage_cross_entropy", "sum_exp_voltage_cross_entropy",
    "sum_voltage_cross_entropy", "ttfs_correct", "ttfs_cross_entropy", "ttfs_predict",
]

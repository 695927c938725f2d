"""Online learning rules: memory that does not grow with the sequence length.

- :class:`STDP`: trace-based pair STDP (all-to-all / nearest, additive / multiplicative bounds)
  for nn.Linear and nn.Conv2d; in-place or through ``.grad``.
- :class:`RewardSTDP`: reward-modulated STDP (MSTDP, and MSTDPET with an eligibility trace).
- :class:`OTTT`: online training through time for feed-forward and convolutional stacks.
- :class:`EProp` with :class:`EPropNet`: e-prop for recurrent LIF / ALIF networks with a
  leaky readout.
"""

from .eprop import EProp, EPropNet, EPropState
from .ottt import OTTT, OTTTState, trace_conv2d, trace_linear
from .rstdp import RewardSTDP, RSTDPState
from .stdp import STDP, STDPState
from .traces import synaptic_outer, trace_step

__all__ = [
    "STDP", "STDPState", "RewardSTDP", "RSTDPState", "OTTT", "OTTTState", "EProp", "EPropNet", "EPropState",
    "trace_linear", "trace_conv2d", "trace_step", "synaptic_outer",
]

"""spikeflow: spiking neural networks on PyTorch.

Sequences are time-major ``[T, B, ...]``. Neuron modules return ``(output, state)`` and
step with ``.step(x_t, state)``; state is explicit and never stored on the module.
"""

from ._threads import configure_openmp_waiting

configure_openmp_waiting()  # before anything imports torch: libgomp reads its wait policy when loaded

from . import (  # noqa: E402
    analysis,
    convert,
    data,
    encoding,
    exact,
    functional,
    kernels,
    losses,
    metrics,
    models,
    online,
    plot,
    quant,
    surrogate,
    train,
)
from .interop import from_nir, load_nir, save_nir, to_nir  # noqa: E402
from .layers import (  # noqa: E402
    Delay,
    DelayedLinear,
    EventConv2d,
    EventLinear,
    LearnableDelay,
    Scale,
    Sequential,
    SumPool2d,
    Threshold,
    TimeDistributed,
)
from .neurons import (  # noqa: E402
    IF,
    LI,
    AdaptiveLeaky,
    Alpha,
    Lapicque,
    Leaky,
    NeuronBase,
    ResonateFire,
    RLeaky,
    RSynaptic,
    Synaptic,
)
from .train import distributed  # noqa: E402  (sf.distributed: torch.distributed helpers for your own loop)

__version__ = "0.1.0"

__all__ = [
    "AdaptiveLeaky", "Alpha", "IF", "LI", "Lapicque", "Leaky", "NeuronBase", "RLeaky", "RSynaptic", "ResonateFire",
    "Sequential", "Synaptic", "TimeDistributed", "encoding", "functional", "kernels", "losses", "metrics",
    "surrogate", "Delay", "EventConv2d", "EventLinear", "Scale", "SumPool2d", "Threshold",
    "DelayedLinear", "LearnableDelay",
    "from_nir", "load_nir", "save_nir", "to_nir",
    "analysis", "convert", "data", "exact", "models", "online", "plot", "quant", "train",
    "distributed",
]

"""Seeing inside a spiking network: monitors, firing statistics, operation counts, energy.

    with sf.analysis.Monitor(net, states=True) as mon:   # hooks, removed on exit
        net(x)
    sf.analysis.firing_stats(mon)                         # rates / sparsity per layer, neuron, step
    sf.analysis.report(net, x)                            # op counts and energy table

See :mod:`spikeflow.analysis.energy` for the energy models and their sources.
"""

from .energy import (
    ComputeCosts,
    MemoryCosts,
    crossover_rate,
    memory_energy,
    proxy_energy,
    qann_bits,
    qann_energy,
    snn_energy_at_rate,
)
from .monitor import Monitor, neuron_layers
from .neurobench import NeuroBenchAdapter
from .ops import LayerOps, OpCounter, count_ops
from .report import Report, format_table, report
from .stats import activation_sparsity, firing_stats, layer_rate, neuron_rates, overall_sparsity, step_rates

__all__ = [
    "ComputeCosts", "LayerOps", "MemoryCosts", "Monitor", "NeuroBenchAdapter", "OpCounter", "Report",
    "activation_sparsity", "count_ops", "crossover_rate", "firing_stats", "format_table", "layer_rate",
    "memory_energy", "neuron_layers", "neuron_rates", "overall_sparsity", "proxy_energy", "qann_bits",
    "qann_energy", "report", "snn_energy_at_rate", "step_rates",
]

"""Energy estimates from operation counts, with every assumption a named, configurable field.

Three numbers, per sample, in picojoules (pJ):

(a) The operation-count proxy (what SNN papers usually quote)::

        E_proxy = ACs * e_ac + MACs * e_mac          (synaptic arithmetic only)

    defaults e_ac = 0.9 pJ (32-bit float add), e_mac = 4.6 pJ (32-bit float multiply 3.7 pJ +
    add 0.9 pJ), 45 nm, from M. Horowitz, "Computing's energy problem (and what we can do
    about it)", ISSCC 2014. It ignores memory traffic, neuron updates and the cost of sparsity.

(b) A memory-inclusive estimate (the accounting of Z. Yan, Z. Bai, W.-F. Wong,
    "Reconsidering the energy efficiency of spiking neural networks", arXiv:2409.08290, 2024)::

        synapses  ACs * accumulate + MACs * mac(weight_bits)           arithmetic
                  + (ACs + MACs) * weight_bits * weight_pj_per_bit     one weight fetch per op
                  + input reads * bits * onchip_pj_per_bit             spikes (1 bit) or values
        neurons   updates * (update + compare if spiking) + spikes * reset
                  + updates * state_fields * state_bits * 2 * onchip   state read + write
                  + spikes * spike_bits * onchip_pj_per_bit            spike write

    Defaults (:class:`MemoryCosts`): 8-bit weights and state; weights fetched from DRAM at
    20 pJ/bit (Yan et al.'s figure, about 1.3 nJ per 64-bit word, as in Horowitz 2014);
    state, spikes and activations moved on chip at 0.25 pJ/bit (Yan et al.); accumulate,
    compare and reset 0.05448 pJ each (Yan et al., 22 nm). ``mac(b)`` scales Horowitz's
    32-bit figures to b bits: multiply quadratically, add linearly,
    ``mac(b) = 3.7 (b/32)^2 + 0.9 (b/32)``.

(c) The same architecture as a bit-matched quantised ANN (Yan et al.): a rate code over T
    steps carries ``b = ceil(log2(T + 1))`` bits, so the ANN runs once at b bits::

        E_qann = MACs_dense_per_step * (mac(b) + b * weight_pj_per_bit)
                 + activations * b * onchip_pj_per_bit + neurons * 2 * compare

    (activations: the network input and every neuron's output; 2 compares clip each output).

The crossover: with every synapse's input firing at one average rate s, (b) is affine in s,
``E_snn(s) = A s + B``, and the SNN costs less than the QANN only below
``s* = (E_qann - B) / A``. For Linear(256,128) -> LIF -> Linear(128,10) -> LI this gives
7.50, 6.25, 5.36, 6.25, 5.56, 5.00 % at T = 5..10, mean 5.99 %, the value Spyx reproduces
from the paper's "about 6 %" (tests/analysis/test_energy.py; docs in docs/analysis.md).
These are models, not silicon measurements: report them with their assumptions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from .ops import LayerOps

HOROWITZ_2014 = 'M. Horowitz, "Computing\'s energy problem (and what we can do about it)", ISSCC 2014, 45 nm'
YAN_2024 = ('Z. Yan, Z. Bai, W.-F. Wong, "Reconsidering the energy efficiency of spiking neural networks", '
            "arXiv:2409.08290, 2024")


@dataclass(frozen=True)
class ComputeCosts:
    """(a) the proxy: pJ per synaptic accumulate and per multiply-accumulate."""

    e_ac: float = 0.9
    e_mac: float = 4.6
    source: str = HOROWITZ_2014 + ", 32-bit float add (AC) and multiply-add (MAC)"

    def __post_init__(self) -> None:
        _check_costs(self)


@dataclass(frozen=True)
class MemoryCosts:
    """(b) and (c): bit widths and pJ per operation and per bit moved."""

    weight_bits: int = 8
    state_bits: int = 8
    spike_bits: int = 1
    activation_bits: int = 8  # real-valued (non-spike) inputs of a synapse layer
    weight_pj_per_bit: float = 20.0  # off-chip (DRAM) weight fetch, one per synaptic operation
    onchip_pj_per_bit: float = 0.25  # state, spikes, activations (each read or write)
    accumulate: float = 0.05448
    compare: float = 0.05448
    reset: float = 0.05448
    update: float = 0.0  # extra arithmetic per neuron update (leak); Yan et al. charge none
    mult_32: float = 3.7  # 32-bit multiply and add, scaled to b bits by mac(b)
    add_32: float = 0.9
    source: str = (YAN_2024 + " (22 nm operations, DRAM 20 pJ/bit, on-chip 0.25 pJ/bit, 8-bit SNN); "
                   + HOROWITZ_2014 + " (3.7 pJ multiply, 0.9 pJ add at 32 bits)")

    def __post_init__(self) -> None:
        _check_costs(self)

    def mac(self, bits: int) -> float:
        """A b-bit multiply-accumulate: multiply ~ b^2, add ~ b (scaled from 32 bits)."""
        r = bits / 32.0
        return self.mult_32 * r * r + self.add_32 * r


def _check_costs(costs: Any) -> None:
    for name, value in asdict(costs).items():
        if name == "source":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if name.endswith("_bits") and not isinstance(value, int):
            raise ValueError(f"{name}: expected an int, got {value!r}")


DEFAULT_COMPUTE = ComputeCosts()
DEFAULT_MEMORY = MemoryCosts()


def qann_bits(steps: int) -> int:
    """Bits of the ANN that matches a T-step rate code: ceil(log2(T + 1)) (T + 1 levels)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    return math.ceil(math.log2(steps + 1))


def _check_layers(layers: Sequence[LayerOps], samples: int) -> None:
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ValueError(f"samples: expected a positive int, got {samples!r}")
    if not layers:
        raise ValueError("layers: expected the counts of at least one layer, got none")


# -- (a) ------------------------------------------------------------------------------------
def proxy_energy(layer: LayerOps, costs: ComputeCosts = DEFAULT_COMPUTE) -> float:
    """(a) for one layer's totals, pJ: ACs * e_ac + MACs * e_mac."""
    return layer.acs * costs.e_ac + layer.macs * costs.e_mac


# -- (b) ------------------------------------------------------------------------------------
def memory_energy(layer: LayerOps, costs: MemoryCosts = DEFAULT_MEMORY) -> dict[str, float]:
    """(b) for one layer's totals, pJ, split into compute / weights / state / spikes and total."""
    c = costs
    compute = layer.acs * c.accumulate + layer.macs * c.mac(c.weight_bits)
    weights = layer.synaptic_ops * c.weight_bits * c.weight_pj_per_bit
    state = spikes = 0.0
    if layer.kind == "synapse":
        if layer.in_binary:
            spikes = layer.in_events * c.spike_bits * c.onchip_pj_per_bit
        else:
            spikes = layer.in_numel * c.activation_bits * c.onchip_pj_per_bit
    else:
        compute += layer.updates * (c.update + (c.compare if layer.spiking else 0.0))
        if layer.spiking:
            compute += layer.spikes * c.reset
            spikes = layer.spikes * c.spike_bits * c.onchip_pj_per_bit
        state = layer.updates * layer.state_fields * c.state_bits * 2 * c.onchip_pj_per_bit
    return {"compute": compute, "weights": weights, "state": state, "spikes": spikes,
            "total": compute + weights + state + spikes}


# -- (c) ------------------------------------------------------------------------------------
def _steps(layers: Sequence[LayerOps], steps: int | None) -> int:
    if steps is not None:
        qann_bits(steps)  # validates
        return steps
    found = {r.steps for r in layers if r.kind == "neuron" and r.steps}
    if len(found) != 1:
        raise ValueError(f"steps: could not infer T from the neuron layers (found {sorted(found)}); pass steps=T")
    return found.pop()


def qann_energy(layers: Sequence[LayerOps], samples: int, steps: int | None = None,
                costs: MemoryCosts = DEFAULT_MEMORY) -> dict[str, float]:
    """(c) per sample, pJ: the architecture run once as a ceil(log2(T+1))-bit ANN.

    Uses the dense counts (every synapse) divided by T and by the number of samples.
    """
    _check_layers(layers, samples)
    t = _steps(layers, steps)
    b = qann_bits(t)
    per = samples * t
    macs = sum(r.dense for r in layers) / per
    synapses = [r for r in layers if r.kind == "synapse"]
    network_input = synapses[0].in_numel / per if synapses else 0.0
    neurons = sum(r.updates for r in layers if r.kind == "neuron") / per
    compute = macs * costs.mac(b) + neurons * 2 * costs.compare
    weights = macs * b * costs.weight_pj_per_bit
    activations = (network_input + neurons) * b * costs.onchip_pj_per_bit
    return {"bits": float(b), "steps": float(t), "macs": macs, "compute": compute, "weights": weights,
            "activations": activations, "total": compute + weights + activations}


def snn_energy_at_rate(layers: Sequence[LayerOps], samples: int, rate: float,
                       costs: MemoryCosts = DEFAULT_MEMORY) -> float:
    """(b) per sample, pJ, if every synapse input and every spiking neuron fired at ``rate``
    (the paper's single average spike rate), on the architecture the counts describe."""
    _check_layers(layers, samples)
    total = 0.0
    for r in layers:
        ideal = LayerOps(r.name, r.type, r.kind, steps=r.steps, neurons=r.neurons, spiking=r.spiking,
                         state_fields=r.state_fields, in_binary=True)
        ideal.acs = rate * r.dense
        ideal.dense = r.dense
        ideal.in_events = rate * r.in_numel
        ideal.in_numel = r.in_numel
        ideal.updates = r.updates
        ideal.spikes = rate * r.updates if r.spiking else 0.0
        total += memory_energy(ideal, costs)["total"]
    return total / samples


def crossover_rate(layers: Sequence[LayerOps], samples: int, steps: int | None = None,
                   costs: MemoryCosts = DEFAULT_MEMORY) -> float:
    """The average spike rate s* at which (b) equals (c); the SNN costs less below it.

    (b) is affine in the rate: E(s) = A s + B, so s* = (E_qann - B) / A. A value below 0
    means the SNN never wins on this architecture, above 1 that it always does.
    """
    base = snn_energy_at_rate(layers, samples, 0.0, costs)
    slope = snn_energy_at_rate(layers, samples, 1.0, costs) - base
    if slope <= 0:
        raise ValueError("layers: no synaptic operations to scale with the spike rate")
    return (qann_energy(layers, samples, steps, costs)["total"] - base) / slope

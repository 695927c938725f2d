"""Operation counts per layer, measured on real inputs through forward hooks.

Synapses (``nn.Linear``, ``nn.Conv1d/2d/3d`` and their event-driven subclasses
``EventLinear``, ``EventConv2d``), per call on input x (folded [T*B, ...] or [T, B, ...]):

    effective = sum over outputs of #(x_i != 0 and w_ji != 0)    (the ops that must happen)
    dense     = sum over outputs of #(all inputs and weights)    (an all-ones input and weight)

Effective ops are synaptic accumulates (ACs) when every input value is in {-1, 0, 1} (binary
spikes) and multiply-accumulates (MACs) otherwise (graded spikes, real-valued inputs), the
rule NeuroBench's ``SynapticOperations`` applies, so the figures are comparable. Biases,
pooling and normalisation are not counted (as in NeuroBench).

Neurons (``NeuronBase``) on x [T, B, ...]:

    updates   = T * B * neurons                 (every neuron's state is updated every step)
    spikes    = #(output != 0)
    recurrent = the feedback of RLeaky/RSynaptic: s[t-1] through the recurrent weight (or V),
                counted like a synapse (ACs for binary spikes, MACs for graded ones).

Memory: parameters (and parameter buffers such as beta) in elements and bytes; neuron state
per sample in elements and bytes (real-valued fields only: the stored last spike of the
recurrent and adaptive models is a bit, counted as a spike).

Counts are totals over every call; divide by the number of samples for per-sample figures
(``count_ops`` and ``report`` do).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..neurons.base import NeuronBase
from ..neurons.recurrent import _Recurrent
from .hooks import HookSet

SYNAPSES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
SPIKE_FIELDS = ("s", "z")  # state fields that hold the last spike (a bit), not a real value


@dataclass
class LayerOps:
    """What one layer did, summed over every call (totals, not per sample)."""

    name: str
    type: str
    kind: str  # "synapse" or "neuron"
    calls: int = 0
    steps: int = 0  # T of the last neuron call (0 for synapses)
    acs: float = 0.0  # effective accumulates (binary inputs)
    macs: float = 0.0  # effective multiply-accumulates (graded or dense inputs)
    dense: float = 0.0  # every synapse of every call
    in_events: float = 0.0  # nonzero inputs seen by a synapse
    in_numel: float = 0.0  # input entries seen by a synapse
    in_binary: bool = True  # every call's input was in {-1, 0, 1}
    neurons: int = 0  # neurons per sample (per step)
    updates: float = 0.0  # neuron state updates
    spikes: float = 0.0  # nonzero outputs of a neuron layer
    out_numel: float = 0.0
    spiking: bool = False  # has a threshold (compares every step, resets on spikes)
    state_fields: int = 0  # real-valued state variables per neuron
    state_bytes: int = 0  # per sample
    params: int = 0
    param_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def synaptic_ops(self) -> float:
        return self.acs + self.macs

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _param_memory(module: nn.Module) -> tuple[int, int]:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() for t in tensors), sum(t.numel() * t.element_size() for t in tensors)


def _is_binary(x: Tensor) -> bool:
    return not bool(((x != 0) & (x != 1) & (x != -1)).any())


def _synapse_counts(module: nn.Module, x: Tensor) -> tuple[float, float]:
    """(effective, dense) synaptic operations of ``module`` on input x."""
    x = x.detach()
    with torch.no_grad():
        if isinstance(module, nn.Linear):
            rows = x.reshape(-1, module.in_features)
            per_input = (rows != 0).sum(dim=0).to(torch.float64)  # events per input feature
            fan_out = (module.weight.detach() != 0).sum(dim=0).to(torch.float64)  # nonzero weights per input
            effective = float(per_input @ fan_out)
            dense = float(rows.shape[0]) * module.in_features * module.out_features
            return effective, dense
        # Convolutions: run the binarised layer (bias off) and add up its outputs.
        w = module.weight.detach()
        bx = (x != 0).to(torch.float64)
        eff = module._conv_forward(bx, (w != 0).to(torch.float64), None)  # type: ignore[operator]
        dense = module._conv_forward(torch.ones_like(bx), torch.ones_like(w, dtype=torch.float64), None)  # type: ignore[operator]
        return float(eff.sum()), float(dense.sum())


def _recurrent_counts(module: _Recurrent, out: Tensor, state0: Any) -> tuple[float, float, bool]:
    """(effective, dense, binary) feedback operations: s[-1], s[0], ..., s[T-2] through the recurrence."""
    prev0 = getattr(state0, "s", None) if state0 is not None else None
    if prev0 is None:
        prev0 = torch.zeros_like(out[0])
    fed = torch.cat([prev0.detach()[None], out.detach()[:-1]], dim=0)  # [T, B, N]
    binary = _is_binary(fed)
    t, b, n = fed.shape[0], fed.shape[1], fed[0, 0].numel()
    events = (fed != 0).reshape(-1, n).sum(dim=0).to(torch.float64)
    if module.all_to_all:
        fan_out = (module.recurrent.weight.detach() != 0).sum(dim=0).to(torch.float64)
        return float(events @ fan_out), float(t * b * n * n), binary
    nonzero_v = torch.broadcast_to((module.V.detach() != 0).to(torch.float64), out[0, 0].shape).reshape(-1)
    return float(events @ nonzero_v), float(t * b * n), binary


class OpCounter(HookSet):
    """Context manager counting the operations of every synapse and neuron module of ``model``.

        with OpCounter(net) as ops:
            net(x)
        ops.layers   # [LayerOps, ...] in model order
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self._modules: dict[str, nn.Module] = {}
        inside_neuron: set[int] = set()
        for name, m in model.named_modules():
            if id(m) in inside_neuron:
                continue
            if isinstance(m, NeuronBase):
                for sub in m.modules():
                    if sub is not m:
                        inside_neuron.add(id(sub))
                self._modules[name or "model"] = m
            elif isinstance(m, SYNAPSES):
                self._modules[name or "model"] = m
        self.records: dict[str, LayerOps] = {}
        for name, m in self._modules.items():
            params, nbytes = _param_memory(m)
            kind = "neuron" if isinstance(m, NeuronBase) else "synapse"
            self.records[name] = LayerOps(name, type(m).__name__, kind, params=params, param_bytes=nbytes)
        super().__init__()

    def _synapse_hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0]
            if not isinstance(x, Tensor):
                return
            rec = self.records[name]
            effective, dense = _synapse_counts(module, x)
            binary = _is_binary(x)
            rec.calls += 1
            rec.dense += dense
            rec.in_events += float(torch.count_nonzero(x))
            rec.in_numel += float(x.numel())
            rec.in_binary = rec.in_binary and binary
            if binary:
                rec.acs += effective
            else:
                rec.macs += effective

        return hook

    def _neuron_hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
            x = args[0] if args else kwargs.get("x")
            if not isinstance(x, Tensor) or not isinstance(output, tuple) or not isinstance(output[0], Tensor):
                return
            out, state = output[0], output[1]
            rec = self.records[name]
            t, b = x.shape[0], x.shape[1]
            n = x[0, 0].numel()
            fields = [f for f in getattr(type(state), "_fields", ()) if f not in SPIKE_FIELDS]
            rec.calls += 1
            rec.steps = t
            rec.neurons = n
            rec.updates += float(t * b * n)
            rec.spikes += float(torch.count_nonzero(out.detach()))
            rec.out_numel += float(out.numel())
            rec.spiking = module.options() is not None  # type: ignore[operator]
            rec.state_fields = len(fields)
            rec.state_bytes = n * len(fields) * x.element_size()
            if isinstance(module, _Recurrent):
                state0 = args[1] if len(args) > 1 else kwargs.get("state")
                effective, dense, binary = _recurrent_counts(module, out, state0)
                rec.dense += dense
                rec.in_binary = rec.in_binary and binary
                if binary:
                    rec.acs += effective
                else:
                    rec.macs += effective

        return hook

    def _attach(self) -> None:
        for name, m in self._modules.items():
            if isinstance(m, NeuronBase):
                self._handles.append(m.register_forward_hook(self._neuron_hook(name), with_kwargs=True))
            else:
                self._handles.append(m.register_forward_pre_hook(self._synapse_hook(name)))

    @property
    def layers(self) -> list[LayerOps]:
        """Every counted layer that ran, in model order."""
        return [r for r in self.records.values() if r.calls]


def count_ops(model: nn.Module, x: Tensor, **kwargs: Any) -> list[LayerOps]:
    """Run ``model(x, **kwargs)`` without gradients and return the per-layer counts (totals
    over the batch; divide by x.shape[1] for per-sample figures)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor [T, B, ...], got {type(x).__name__}")
    with torch.no_grad(), OpCounter(model) as counter:
        model(x, **kwargs)
    return counter.layers

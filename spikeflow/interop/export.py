"""Export: spikeflow modules -> NIR nodes (the inverse of node_import.py).

A neuron is written with the time constants that reproduce its decays exactly under the chosen
discretization and dt, and r (and w_in) such that the input gain is 1. What NIR cannot say
(subtract reset, delayed reset, graded spikes as a separate Scale node) goes into
``spikeflow_*`` node metadata, which from_nir honours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ..layers.delay import Delay
from ..layers.elementwise import Scale, Threshold
from ..layers.learnable_delay import DelayedLinear, LearnableDelay
from ..layers.nir_neurons import DrivenNeuron
from ..layers.pool import SumPool2d
from ..layers.sequential import TimeDistributed
from ..neurons import LI, AdaptiveLeaky, Alpha, Lapicque, Leaky, RLeaky, RSynaptic, Synaptic
from .delays import delayed_linear_nodes, learnable_delay_node
from .network import NIRNetwork
from .options import META
from .reader import type_checked
from .semantics import check_dt, check_scheme, decay_to_tau, tau_to_decay


@dataclass
class Piece:
    """Nodes for one module: edges among them, the node(s) that take its input, the node that gives its output."""

    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]] = field(default_factory=list)
    entry: str = ""
    exit: str = ""


def _np(t: Any, shape: tuple[int, ...] | None = None, dtype: Any = np.float64) -> np.ndarray:
    a = t.detach().cpu().double().numpy() if isinstance(t, Tensor) else np.asarray(t, dtype=np.float64)
    if shape is not None:
        a = np.broadcast_to(a, shape)
    return np.array(a, dtype=dtype)


def _out_shape(module: nn.Module, in_shape: tuple[int, ...], name: str = "") -> tuple[int, ...]:
    """Output shape of one sample, from a dry run with T = B = 1."""
    while isinstance(module, TimeDistributed):
        module = module.module
    try:
        return _dry_run(module, in_shape)
    except (RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"module {name!r}: cannot take a sample of shape {in_shape} ({e})") from None


def _dry_run(module: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        x = torch.zeros(1, 1, *in_shape)
        if getattr(module, "is_stateful", False):
            y = module(x)[0]
        else:
            y = module(x[0]).unsqueeze(0)
    return tuple(y.shape[2:])


class Exporter:
    def __init__(self, dt: float, scheme: str) -> None:
        self.dt = check_dt(dt)
        self.scheme = check_scheme(scheme)

    # -- neurons -------------------------------------------------------------------------
    def _meta(self, core: nn.Module, name: str) -> dict[str, Any]:
        opts = core.options()
        if opts.inhibition:
            raise ValueError(f"module {name!r}: inhibition (winner-take-all) cannot be expressed in NIR")
        return {META + "reset": opts.reset, META + "reset_delay": bool(opts.reset_delay)}

    def _decay(self, t: Tensor, shape: tuple[int, ...], what: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        d = np.clip(_np(t, shape), 0.0, 1.0)
        tau = decay_to_tau(d, self.dt, self.scheme, f"module {name!r} {what}")
        return tau, 1.0 - tau_to_decay(tau, self.dt, self.scheme, f"module {name!r} {what}")

    def neuron(self, name: str, m: nn.Module, shape: tuple[int, ...]) -> Piece:
        """Leaky / IF / Lapicque / Synaptic / LI / RLeaky / RSynaptic, optionally inside a DrivenNeuron."""
        gain = bias = v_init = 0.0
        core = m
        if isinstance(m, DrivenNeuron):
            core = m.neuron
            gain, bias, v_init = _np(m.gain, shape), _np(m.bias, shape), _np(m.v_init, shape)
        else:
            gain, bias, v_init = np.ones(shape), np.zeros(shape), np.zeros(shape)
        if isinstance(core, (Alpha, AdaptiveLeaky)):
            raise ValueError(f"module {name!r}: {type(core).__name__} has no NIR equivalent (NIR has LIF, CubaLIF...)")
        if isinstance(core, Lapicque):
            p = core.params(torch.zeros(1, dtype=torch.float64))
            beta_t, gain = p["decay"], gain * _np(p["gain"], shape)
        elif isinstance(core, (Leaky, RLeaky, Synaptic, RSynaptic, LI)):
            beta_t = core.beta
        else:
            raise ValueError(f"module {name!r}: unsupported neuron {type(core).__name__}")
        v_reset = -v_init
        nodes: dict[str, nir.NIRNode] = {}
        edges: list[tuple[str, str]] = []
        beta = np.clip(_np(beta_t, shape), 0, 1)
        is_li = isinstance(core, LI)
        has_syn = isinstance(core, (Synaptic, RSynaptic)) or (is_li and core.has_current)
        meta = {} if is_li else self._meta(core, name)
        if not is_li:
            thr = _np(core.threshold, shape) + v_reset
        if has_syn:
            alpha = np.clip(_np(core.alpha, shape), 0, 1)
            if (alpha == 1).any() or (beta == 1).any():
                raise ValueError(f"module {name!r}: alpha or beta = 1 (no decay) cannot be expressed as Cuba NIR nodes")
            tau_syn, ga = self._decay(core.alpha, shape, "alpha", name)
            tau_mem, gb = self._decay(core.beta, shape, "beta", name)
            leak = bias / (ga * gb) + v_reset
            common = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=gain / gb, v_leak=leak, w_in=1.0 / ga)
            node: nir.NIRNode = (nir.CubaLI(**common) if is_li else
                                 nir.CubaLIF(**common, v_threshold=thr, v_reset=v_reset, metadata=meta))
        elif (beta == 1).all():
            if bias.any():
                raise ValueError(f"module {name!r}: an integrator with an input bias cannot be expressed in NIR")
            r = gain / self.dt
            node = nir.I(r=r) if is_li else nir.IF(r=r, v_threshold=thr, v_reset=v_reset, metadata=meta)
        else:
            if (beta == 1).any():
                raise ValueError(f"module {name!r}: beta = 1 for some but not all neurons cannot be expressed as a LIF")
            tau, g = self._decay(beta_t, shape, "beta", name)
            if is_li:
                node = nir.LI(tau=tau, r=gain / g, v_leak=bias / g)
            else:
                node = nir.LIF(tau=tau, r=gain / g, v_leak=bias / g + v_reset, v_threshold=thr, v_reset=v_reset,
                               metadata=meta)
        nodes[name] = node
        if isinstance(core, (RLeaky, RSynaptic)):
            # the feedback passes through the drive gain on import (node_import.fold_recurrence): undo it
            inv = np.ones(shape) if (gain == 1).all() else 1.0 / np.where(gain == 0, 1.0, gain)
            rec = f"{name}.w_rec"
            if core.all_to_all:
                w, b = _np(core.recurrent.weight), _np(core.recurrent.bias)
                if not (inv == 1).all():
                    w, b = w * inv.reshape(-1, 1), b * inv.reshape(-1)
                nodes[rec] = nir.Affine(weight=w.astype(np.float32), bias=b.astype(np.float32))
            else:
                nodes[rec] = nir.Scale(scale=(_np(core.V, shape) * inv).astype(np.float32))
            edges += [(name, rec), (rec, name)]
        out = name
        graded = None if is_li else _np(core.graded_spikes, shape)
        if graded is not None and not (graded == 1).all():
            out = f"{name}.graded"
            nodes[out] = nir.Scale(scale=graded.astype(np.float32), metadata={META + "graded_spikes": True})
            edges.append((name, out))
        return Piece(nodes, edges, name, out)

    # -- layers --------------------------------------------------------------------------
    def layer(self, name: str, m: nn.Module, in_shape: tuple[int, ...]) -> Piece | None:
        if isinstance(m, TimeDistributed):
            return self.layer(name, m.module, in_shape)
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return None
        out_shape = _out_shape(m, in_shape, name)
        if isinstance(m, nn.Linear):
            w = _np(m.weight, dtype=np.float32)
            node: nir.NIRNode = (nir.Affine(weight=w, bias=_np(m.bias, dtype=np.float32)) if m.bias is not None
                                 else nir.Linear(weight=w))
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if m.padding_mode != "zeros":
                raise ValueError(f"module {name!r}: padding_mode {m.padding_mode!r} cannot be expressed (only zeros)")
            dims = 1 if isinstance(m, nn.Conv1d) else 2
            bias = (_np(m.bias, dtype=np.float32) if m.bias is not None else np.zeros(m.out_channels, np.float32))
            pad = m.padding if isinstance(m.padding, str) else np.asarray(m.padding)
            cls = nir.Conv1d if dims == 1 else nir.Conv2d
            node = cls(input_shape=int(in_shape[1]) if dims == 1 else np.asarray(in_shape[1:]),
                       weight=_np(m.weight, dtype=np.float32),
                       stride=np.asarray(m.stride) if dims == 2 else m.stride[0],
                       padding=pad if dims == 2 or isinstance(pad, str) else int(pad[0]),
                       dilation=np.asarray(m.dilation) if dims == 2 else m.dilation[0], groups=m.groups, bias=bias,
                       metadata={} if m.bias is not None else {META + "bias": False})
        elif isinstance(m, nn.Flatten):
            nd = len(in_shape) + 1
            start = m.start_dim if m.start_dim >= 0 else m.start_dim + nd
            end = m.end_dim if m.end_dim >= 0 else m.end_dim + nd
            if start < 1:
                raise ValueError(f"module {name!r}: Flatten over the batch dimension cannot be expressed in NIR")
            node = nir.Flatten(input_type={"input": np.asarray(in_shape)}, start_dim=start - 1, end_dim=end - 1)
        elif isinstance(m, (nn.AvgPool2d, SumPool2d)):
            if isinstance(m, nn.AvgPool2d) and (m.ceil_mode or not m.count_include_pad or m.divisor_override):
                raise ValueError(f"module {name!r}: AvgPool2d needs ceil_mode=False, count_include_pad=True, "
                                 "divisor_override=None to be expressed in NIR")
            k, s, p = (np.broadcast_to(np.asarray(v), (2,)).astype(np.int64)
                       for v in (m.kernel_size, m.stride, m.padding))
            cls = nir.AvgPool2d if isinstance(m, nn.AvgPool2d) else nir.SumPool2d
            node = cls(kernel_size=k, stride=s, padding=p)
        elif isinstance(m, Scale):
            node = nir.Scale(scale=_np(m.scale, in_shape, np.float32))
        elif isinstance(m, Threshold):
            node = nir.Threshold(threshold=_np(m.threshold, in_shape))
        elif isinstance(m, Delay):
            node = nir.Delay(delay=_np(m.steps, in_shape) * self.dt)
        elif isinstance(m, LearnableDelay):
            node = learnable_delay_node(name, m, in_shape, self.dt)
        elif isinstance(m, DelayedLinear):
            return Piece(*delayed_linear_nodes(name, m, self.dt))
        elif isinstance(m, (NIRNetwork, nn.Sequential)):
            node = self.graph(m, in_shape)
        elif getattr(m, "is_stateful", False):
            return self.neuron(name, m, out_shape)
        else:
            raise ValueError(f"module {name!r}: {type(m).__name__} has no NIR mapping in spikeflow")
        return Piece({name: node}, [], name, name)

    # -- containers ----------------------------------------------------------------------
    def graph(self, m: nn.Module, in_shape: tuple[int, ...]) -> nir.NIRGraph:
        if isinstance(m, NIRNetwork):
            return self._network(m)
        children = list(m.named_children()) if isinstance(m, nn.Sequential) else [("0", m)]
        nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.asarray(in_shape)})}
        edges: list[tuple[str, str]] = []
        last, shape = "input", tuple(in_shape)
        for cname, child in children:
            if cname in ("input", "output"):
                cname = f"{cname}_"
            piece = self.layer(cname, child, shape)
            if piece is None:
                continue
            nodes.update(piece.nodes)
            edges += [(last, piece.entry), *piece.edges]
            last, shape = piece.exit, _out_shape(child, shape, cname)
        nodes["output"] = nir.Output(output_type={"output": np.asarray(shape)})
        edges.append((last, "output"))
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    def _network(self, net: NIRNetwork) -> nir.NIRGraph:
        nodes: dict[str, nir.NIRNode] = {}
        for n in net.names:
            src = net.nir_nodes[n]
            if isinstance(src, nir.Input):
                nodes[n] = nir.Input(input_type={"input": np.asarray(net.shapes[n])})
            elif isinstance(src, nir.Output):
                nodes[n] = nir.Output(output_type={"output": np.asarray(net.shapes[n])})
            else:
                m = net.node(n)
                layer_like = (NIRNetwork, Delay, LearnableDelay, DelayedLinear)
                if getattr(m, "is_stateful", False) and not isinstance(m, layer_like):
                    piece = self.neuron(n, m, net.shapes[n])
                    if n in net.folded and net.folded[n] != f"{n}.w_rec":
                        piece.nodes[net.folded[n]] = piece.nodes.pop(f"{n}.w_rec")
                    nodes.update(piece.nodes)
                else:
                    piece = self.layer(n, m, net.in_shapes[n])
                    nodes.update(piece.nodes if piece is not None else {n: nir.Scale(scale=np.ones(net.shapes[n]))})
        return nir.NIRGraph(nodes=nodes, edges=list(net.all_edges), metadata=dict(net.metadata), type_check=False)


def to_nir(module: nn.Module, input_shape: Any, dt: float = 1e-4, discretization: str = "euler",
           type_check: bool = True) -> nir.NIRGraph:
    """A spikeflow module (Sequential, a layer, a neuron, or an imported NIRNetwork) as a NIR graph.

    input_shape: the shape of one sample without time and batch, e.g. (2, 34, 34).
    dt, discretization: the step and scheme under which the written time constants reproduce the
    module's decays exactly (dt is recorded as a metadata hint; importers must be told dt).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an nn.Module, got {type(module).__name__}")
    try:
        seq = input_shape if isinstance(input_shape, (tuple, list, torch.Size)) else [input_shape]
        shape = tuple(int(s) for s in seq)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape: expected a tuple of positive ints (no time/batch dims), got {input_shape!r}") \
            from None
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"input_shape: expected a tuple of positive ints (no time/batch dims), got {input_shape!r}")
    exporter = Exporter(dt, discretization)
    graph = exporter.graph(module, shape)
    recurrent = any(isinstance(m, (RLeaky, RSynaptic)) for m in module.modules())
    graph.metadata = {**{k: v for k, v in graph.metadata.items() if not str(k).startswith(META)},
                      META + "dt": float(dt), META + "discretization": discretization}
    if recurrent or (isinstance(module, NIRNetwork) and module.recurrent_bias_at_start):
        graph.metadata[META + "recurrent_bias_at_start"] = True
    return type_checked(graph, "exported graph") if type_check else graph

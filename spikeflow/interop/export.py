"""Export: spikeflow modules -> NIR nodes (the inverse of node_import.py).

A neuron is written with the time constants that reproduce its decays exactly under the chosen
discretization and dt, and r (and w_in) such that the input gain is 1, from the values the
module runs with (its own dtype). What every reader can run is written as plain NIR:
* graded spikes: a ``Scale`` node ``<name>.graded`` after the neuron, inside the recurrent loop
  for RLeaky/RSynaptic (``<name> -> <name>.graded -> <name>.w_rec -> <name>``);
* a recurrent bias: added to the bias of the feed-forward Affine before the neuron, the back
  edge a bias-free ``Linear`` (no reader depends on a bias-at-t=0 convention); spikeflow
  restores the split from metadata;
* grouped convolutions: a dense block-diagonal Conv (NIR readers ignore ``groups`` in types).
What NIR cannot say (subtract reset, delayed reset, exp discretisation, a recurrent bias that
cannot be folded) goes into ``spikeflow_*`` metadata, with a UserWarning naming the module and
the setting (``strict=True``: a ValueError).

Layer mappings are a table (``LAYER_EXPORTS``, filled with ``@exports(cls)``): adding a layer
type is one function.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
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
from . import conv_export
from .delays import delayed_linear_nodes, learnable_delay_node
from .network import NIRNetwork
from .options import META
from .reader import type_checked
from .semantics import check_dt, check_scheme, decay_to_tau, tau_to_decay


@dataclass
class Piece:
    """Nodes for one module: edges among them, the node that takes its input, the node that gives its output."""

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
        dtype = next((t.dtype for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()),
                     torch.get_default_dtype())
        with torch.no_grad():
            x = torch.zeros(1, 1, *in_shape, dtype=dtype)
            y = module(x)[0] if getattr(module, "is_stateful", False) else module(x[0]).unsqueeze(0)
        return tuple(y.shape[2:])
    except (RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"module {name!r}: cannot take a sample of shape {in_shape} ({e})") from None


LayerExport = Callable[["Exporter", str, nn.Module, tuple[int, ...]], nir.NIRNode]
LAYER_EXPORTS: dict[type, LayerExport] = {}


def exports(*classes: type) -> Callable[[LayerExport], LayerExport]:
    """Register the NIR mapping of stateless layer types (one node per module)."""
    def register(fn: LayerExport) -> LayerExport:
        for cls in classes:
            LAYER_EXPORTS[cls] = fn
        return fn
    return register


class Exporter:
    def __init__(self, dt: float, scheme: str) -> None:
        self.dt = check_dt(dt)
        self.scheme = check_scheme(scheme)
        self.notes: dict[str, list[str]] = {}  # module name -> settings written only as metadata
        self.prefix = ""  # names of modules inside nested containers: "outer.inner"
        self.bias_at_start = False  # a recurrent bias is delivered from t = 0 (graph metadata)

    def note(self, name: str, setting: str) -> None:
        notes = self.notes.setdefault(self.prefix + name, [])
        if setting not in notes:
            notes.append(setting)

    # -- neurons -------------------------------------------------------------------------
    def _meta(self, core: nn.Module, name: str) -> dict[str, Any]:
        opts = core.options()
        if opts.inhibition:
            raise ValueError(f"module {name!r}: inhibition (winner-take-all) cannot be expressed in NIR")
        if opts.reset != "zero":
            self.note(name, f"reset={opts.reset!r}")
        if opts.reset_delay and opts.reset != "none":
            self.note(name, "reset_delay=True")
        return {META + "reset": opts.reset, META + "reset_delay": bool(opts.reset_delay)}

    def _decay(self, d: np.ndarray, what: str, name: str) -> tuple[np.ndarray, np.ndarray]:
        if self.scheme == "exp":
            self.note(name, "discretization='exp'")
        tau = decay_to_tau(d, self.dt, self.scheme, f"module {name!r} {what}")
        return tau, 1.0 - tau_to_decay(tau, self.dt, self.scheme, f"module {name!r} {what}")

    def neuron(self, name: str, m: nn.Module, shape: tuple[int, ...]) -> Piece:
        """Leaky / IF / Lapicque / Synaptic / LI / RLeaky / RSynaptic, optionally inside a DrivenNeuron."""
        core = m.neuron if isinstance(m, DrivenNeuron) else m
        if isinstance(m, DrivenNeuron):
            gain, bias, v_init = _np(m.gain, shape), _np(m.bias, shape), _np(m.v_init, shape)
        else:
            gain, bias, v_init = np.ones(shape), np.zeros(shape), np.zeros(shape)
        if isinstance(core, (Alpha, AdaptiveLeaky)):
            raise ValueError(f"module {name!r}: {type(core).__name__} has no NIR equivalent (NIR has LIF, CubaLIF...)")
        if not isinstance(core, (Lapicque, Leaky, RLeaky, Synaptic, RSynaptic, LI)):
            raise ValueError(f"module {name!r}: unsupported neuron {type(core).__name__}")
        # the values the module runs with, in its own dtype (then exactly widened to float64)
        dtype = next((t.dtype for t in core.buffers() if t.is_floating_point()), torch.get_default_dtype())
        like = torch.zeros(1, dtype=dtype)
        p = core.params(like)
        meta: dict[str, Any] = {}
        if isinstance(core, Lapicque):
            decay = _np(p["decay"], shape)
            if ((decay < 0) | (decay > 1)).any():
                raise ValueError(f"module {name!r}: Lapicque decay 1 - dt/(RC) = {decay.min():.4g} lies outside "
                                 "[0, 1]; "
                                 "no LIF has it")
            gain = gain * _np(p["gain"], shape)
            meta.update({META + "model": "lapicque", META + "R": _np(core.R, shape, np.float32),
                         META + "C": _np(core.C, shape, np.float32), META + "time_step": core.time_step})
        beta = np.clip(_np(p["decay"] if isinstance(core, Lapicque) else p["beta"], shape), 0, 1)
        shift = v_reset = -v_init  # DrivenNeuron holds u = v - v_reset and starts at v = 0
        if isinstance(m, DrivenNeuron) and hasattr(m, "nir_shift"):  # imported to start at v_reset
            shift, v_reset = _np(m.nir_shift, shape), _np(m.nir_v_reset, shape)
            if not np.array_equal(v_init, -shift):
                self.note(name, "a start at v = v_reset (SpikingJelly's convention; NIR starts at v = 0)")
        is_li = isinstance(core, LI)
        has_syn = isinstance(core, (Synaptic, RSynaptic)) or (is_li and core.has_current)
        if not is_li:
            meta.update(self._meta(core, name))
            thr = _np(p["threshold"], shape) + shift
        if has_syn:
            alpha = np.clip(_np(p["alpha"], shape), 0, 1)
            if (alpha == 1).any() or (beta == 1).any():
                raise ValueError(f"module {name!r}: alpha or beta = 1 (no decay) cannot be expressed as Cuba NIR nodes")
            tau_syn, ga = self._decay(alpha, "alpha", name)
            tau_mem, gb = self._decay(beta, "beta", name)
            leak = bias / (ga * gb) + shift
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
            tau, g = self._decay(beta, "beta", name)
            if is_li:
                node = nir.LI(tau=tau, r=gain / g, v_leak=bias / g)
            else:
                node = nir.LIF(tau=tau, r=gain / g, v_leak=bias / g + shift, v_threshold=thr, v_reset=v_reset,
                               metadata=meta)
        nodes: dict[str, nir.NIRNode] = {name: node}
        edges: list[tuple[str, str]] = []
        out = name
        graded = None if is_li else _np(p["graded"], shape)
        if graded is not None and not (graded == 1).all():
            out = f"{name}.graded"
            nodes[out] = nir.Scale(scale=_np(p["graded"], shape, np.float32), metadata={META + "graded_spikes": True})
            edges.append((name, out))
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
            edges += [(out, rec), (rec, name)]
        return Piece(nodes, edges, name, out)

    # -- layers --------------------------------------------------------------------------
    def layer(self, name: str, m: nn.Module, in_shape: tuple[int, ...]) -> Piece | None:
        while isinstance(m, TimeDistributed):
            m = m.module
        if isinstance(m, (nn.Identity, nn.Dropout)):
            return None
        if isinstance(m, (NIRNetwork, nn.Sequential)):
            return Piece({name: self.graph(m, in_shape, prefix=f"{self.prefix}{name}.")}, [], name, name)
        mapping = conv_export.layer_mapping(m)  # batch norms, sequence dropout, max pooling
        if mapping is not None:
            node = mapping(name, m)
            return None if node is conv_export.SKIP else Piece({name: node}, [], name, name)
        if isinstance(m, LearnableDelay):
            return Piece({name: learnable_delay_node(name, m, in_shape, self.dt)}, [], name, name)
        if isinstance(m, DelayedLinear):
            return Piece(*delayed_linear_nodes(name, m, self.dt))
        fn = next((f for cls, f in LAYER_EXPORTS.items() if isinstance(m, cls)), None)
        if fn is not None:
            return Piece({name: fn(self, name, m, in_shape)}, [], name, name)
        if getattr(m, "is_stateful", False):
            return self.neuron(name, m, _out_shape(m, in_shape, name))
        raise ValueError(f"module {name!r}: {type(m).__name__} has no NIR mapping in spikeflow")

    # -- containers ----------------------------------------------------------------------
    def graph(self, m: nn.Module, in_shape: tuple[int, ...], prefix: str = "") -> nir.NIRGraph:
        if isinstance(m, NIRNetwork):
            from .reexport import network_graph

            return network_graph(self, m, prefix)
        children = list(m.named_children()) if isinstance(m, nn.Sequential) else [("0", m)]
        children = conv_export.fold_for_export(children)  # NIR has no batch norm: fold it into Conv/Linear
        nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.asarray(in_shape)})}
        edges: list[tuple[str, str]] = []
        last, shape = "input", tuple(in_shape)
        outer, self.prefix = self.prefix, prefix
        for cname, child in children:
            if cname in ("input", "output"):
                cname = f"{cname}_"
            piece = self.layer(cname, child, shape)
            if piece is None:
                continue
            nodes.update(piece.nodes)
            self._fold_recurrent_bias(child, nodes, last, piece)
            edges += [(last, piece.entry), *piece.edges]
            last, shape = piece.exit, _out_shape(child, shape, cname)
        self.prefix = outer
        nodes["output"] = nir.Output(output_type={"output": np.asarray(shape)})
        edges.append((last, "output"))
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    def _fold_recurrent_bias(self, child: nn.Module, nodes: dict[str, nir.NIRNode], last: str,
                             piece: Piece) -> bool:
        """RLeaky/RSynaptic with a recurrent bias after a Linear: the bias joins the Linear's, the back edge
        becomes a bias-free Linear. Otherwise the bias (delivered from t = 0) is noted as metadata-only."""
        core = child.module if isinstance(child, TimeDistributed) else child
        if not isinstance(core, (RLeaky, RSynaptic)) or not core.all_to_all:
            return False
        rec_name = f"{piece.entry}.w_rec"
        rec = piece.nodes[rec_name]
        b_rec = np.asarray(rec.bias, dtype=np.float32)
        if not b_rec.any():
            piece.nodes[rec_name] = nodes[rec_name] = nir.Linear(weight=rec.weight)
            return True
        ff = nodes.get(last)
        if isinstance(ff, (nir.Affine, nir.Linear)) and last != "input" and ff.weight.shape[0] == b_rec.shape[0]:
            own = np.zeros(b_rec.shape, np.float32) if isinstance(ff, nir.Linear) else np.asarray(ff.bias, np.float32)
            total = own.astype(np.float64) + b_rec.astype(np.float64)  # exact; a float32 reader rounds it once
            nodes[last] = nir.Affine(weight=ff.weight, bias=total, metadata={
                **ff.metadata, META + "own_bias": own, META + "recurrent_bias": b_rec,
                META + "recurrent_bias_of": piece.entry, META + "had_bias": isinstance(ff, nir.Affine)})
            piece.nodes[rec_name] = nodes[rec_name] = nir.Linear(weight=rec.weight)
            return True
        self.note(piece.entry, "a recurrent bias that no Linear before it can absorb (delivered from t = 0: graph "
                         "metadata spikeflow_recurrent_bias_at_start)")
        self.bias_at_start = True
        return False


# -- stateless layers (one node each) ------------------------------------------------------------
@exports(nn.Linear)
def _linear(ex: Exporter, name: str, m: nn.Linear, in_shape: tuple[int, ...]) -> nir.NIRNode:
    w = _np(m.weight, dtype=np.float32)
    return nir.Affine(weight=w, bias=_np(m.bias, dtype=np.float32)) if m.bias is not None else nir.Linear(weight=w)


@exports(nn.Conv1d, nn.Conv2d)
def _conv(ex: Exporter, name: str, m: nn.Conv1d | nn.Conv2d, in_shape: tuple[int, ...]) -> nir.NIRNode:
    if m.padding_mode != "zeros":
        raise ValueError(f"module {name!r}: padding_mode {m.padding_mode!r} cannot be expressed (only zeros)")
    dims = 1 if isinstance(m, nn.Conv1d) else 2
    meta: dict[str, Any] = {} if m.bias is not None else {META + "bias": False}
    bias = _np(m.bias, dtype=np.float32) if m.bias is not None else np.zeros(m.out_channels, np.float32)
    weight = _np(m.weight, dtype=np.float32)
    if m.groups > 1:  # dense block-diagonal weight: nir's types (and several readers) ignore groups
        o, i = m.out_channels // m.groups, m.in_channels // m.groups
        dense = np.zeros((m.out_channels, m.in_channels, *weight.shape[2:]), np.float32)
        for g in range(m.groups):
            dense[g * o:(g + 1) * o, g * i:(g + 1) * i] = weight[g * o:(g + 1) * o]
        weight, meta[META + "groups"] = dense, int(m.groups)
    pad = m.padding if isinstance(m.padding, str) else np.asarray(m.padding)
    cls = nir.Conv1d if dims == 1 else nir.Conv2d
    return cls(input_shape=int(in_shape[1]) if dims == 1 else np.asarray(in_shape[1:]), weight=weight,
               stride=np.asarray(m.stride) if dims == 2 else m.stride[0],
               padding=pad if dims == 2 or isinstance(pad, str) else int(pad[0]),
               dilation=np.asarray(m.dilation) if dims == 2 else m.dilation[0], groups=1, bias=bias, metadata=meta)


@exports(nn.Flatten)
def _flatten(ex: Exporter, name: str, m: nn.Flatten, in_shape: tuple[int, ...]) -> nir.NIRNode:
    nd = len(in_shape) + 1
    start = m.start_dim if m.start_dim >= 0 else m.start_dim + nd
    end = m.end_dim if m.end_dim >= 0 else m.end_dim + nd
    if start < 1:
        raise ValueError(f"module {name!r}: Flatten over the batch dimension cannot be expressed in NIR")
    return nir.Flatten(input_type={"input": np.asarray(in_shape)}, start_dim=start - 1, end_dim=end - 1)


@exports(nn.AvgPool2d, SumPool2d)
def _pool(ex: Exporter, name: str, m: nn.Module, in_shape: tuple[int, ...]) -> nir.NIRNode:
    if isinstance(m, nn.AvgPool2d) and (m.ceil_mode or not m.count_include_pad or m.divisor_override):
        raise ValueError(f"module {name!r}: AvgPool2d needs ceil_mode=False, count_include_pad=True, "
                         "divisor_override=None to be expressed in NIR")
    k, s, p = (np.broadcast_to(np.asarray(v), (2,)).astype(np.int64) for v in (m.kernel_size, m.stride, m.padding))
    cls = nir.AvgPool2d if isinstance(m, nn.AvgPool2d) else nir.SumPool2d
    return cls(kernel_size=k, stride=s, padding=p)


@exports(Scale)
def _scale(ex: Exporter, name: str, m: Scale, in_shape: tuple[int, ...]) -> nir.NIRNode:
    return nir.Scale(scale=_np(m.scale, in_shape, np.float32))


@exports(Threshold)
def _threshold(ex: Exporter, name: str, m: Threshold, in_shape: tuple[int, ...]) -> nir.NIRNode:
    return nir.Threshold(threshold=_np(m.threshold, in_shape))


@exports(Delay)
def _delay(ex: Exporter, name: str, m: Delay, in_shape: tuple[int, ...]) -> nir.NIRNode:
    return nir.Delay(delay=_np(m.steps, in_shape) * ex.dt)


def to_nir(module: nn.Module, input_shape: Any, dt: float = 1e-4, discretization: str = "euler",
           type_check: bool = True, strict: bool = False) -> nir.NIRGraph:
    """A spikeflow module (Sequential, a layer, a neuron, or an imported NIRNetwork) as a NIR graph.

    input_shape: the shape of one sample without time and batch, e.g. (2, 34, 34).
    dt, discretization: the step and scheme under which the written time constants reproduce the
    module's decays exactly (dt is recorded as a metadata hint; importers must be told dt).
    Settings NIR cannot express are written as ``spikeflow_*`` metadata with one UserWarning per
    module naming them; ``strict=True`` raises a ValueError instead.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an nn.Module, got {type(module).__name__}")
    if not isinstance(strict, bool):
        raise TypeError(f"strict: expected bool, got {type(strict).__name__}")
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
    graph.metadata = {**{k: v for k, v in graph.metadata.items() if not str(k).startswith(META)},
                      META + "dt": float(dt), META + "discretization": discretization}
    if exporter.bias_at_start:
        graph.metadata[META + "recurrent_bias_at_start"] = True
    for name, settings in exporter.notes.items():
        message = (f"module {name!r}: {', '.join(settings)} cannot be expressed in NIR; written only as spikeflow_* "
                   "metadata (spikeflow reads it back, other readers run a different neuron)")
        if strict:
            raise ValueError(message + "; strict=True refuses it (see docs/nir.md: exporting exactly)")
        warnings.warn(message, UserWarning, stacklevel=2)
    return type_checked(graph, "exported graph") if type_check else graph

"""NIRNetwork: runs an imported NIR graph over time.

Nodes are evaluated in topological order of the graph with its back edges cut (edges that
close a cycle, found by depth-first search from the inputs in edge order). A back edge
delivers its source's output from the previous step (zeros, or an Affine's bias, at t = 0).
Several edges into one node are summed. Acyclic graphs run node by node over the whole
sequence; cyclic ones step. A neuron <-> Affine/Linear/Scale 2-cycle is folded into
RLeaky/RSynaptic, which runs as a whole sequence.

``out, state = net(x)`` with x [T, B, ...] (a dict by Input name if several inputs);
``out, state = net.step(x_t, state)``; ``net(x, record=True)`` -> (out, {node: output [T, B, ...]}).
State: {"nodes": {node: neuron state}, "prev": {node: last output feeding a back edge}}.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import replace
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ..layers.elementwise import Scale
from ..layers.sequential import time_distributed
from .node_import import array, fold_recurrence, node_module, restore_split_bias, set_graded
from .options import ImportOptions
from .structure import _declared_input, check_structure

MAX_SAMPLE = 2**26  # values in one sample of an Input: above this a shape is treated as corrupt


def _stateful(m: nn.Module) -> bool:
    return bool(getattr(m, "is_stateful", False))


def back_edges(nodes: list[str], edges: list[tuple[str, str]], starts: list[str]) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first search from ``starts`` (then any unvisited node)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
    color = {n: 0 for n in nodes}  # 0 new, 1 on stack, 2 done
    back: set[tuple[str, str]] = set()
    for root in [*starts, *nodes]:
        if color[root]:
            continue
        stack = [(root, iter(succ[root]))]
        color[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
            elif color[nxt] == 1:
                back.add((node, nxt))
            elif color[nxt] == 0:
                color[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return back


def topo_order(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's algorithm in O(nodes + edges), ties in node order."""
    indeg = {n: 0 for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        indeg[d] += 1
        succ[s].append(d)
    ready = deque(n for n in nodes if indeg[n] == 0)
    order: list[str] = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    return order


def fingerprint(m: nn.Module) -> tuple[str, dict[str, Tensor]]:
    """What a module computes with: its repr (options) and a copy of its state."""
    return repr(m), {k: v.detach().clone() for k, v in m.state_dict().items()}


def same_fingerprint(a: tuple[str, dict[str, Tensor]], b: tuple[str, dict[str, Tensor]]) -> bool:
    return a[0] == b[0] and a[1].keys() == b[1].keys() and all(
        a[1][k].shape == b[1][k].shape and a[1][k].dtype == b[1][k].dtype and torch.equal(a[1][k], b[1][k])
        for k in a[1])


class NIRNetwork(nn.Module):
    """An imported NIR graph as a module (see the module docstring)."""

    is_stateful = True

    def __init__(self, graph: nir.NIRGraph, options: ImportOptions | None = None, name: str = "graph", *,
                 checked: bool = False) -> None:
        """checked: the caller has already run structure.check_structure on this graph level."""
        super().__init__()
        opts = options or ImportOptions()
        self.options = opts
        self.metadata = dict(graph.metadata) if isinstance(graph.metadata, dict) else {}
        self.nir_nodes = dict(graph.nodes)  # the source nodes (types, metadata) for export
        names = list(graph.nodes)
        edges = [(str(s), str(d)) for s, d in graph.edges]
        if not checked:
            check_structure(graph.nodes, edges, f"graph {name!r}")
        self.inputs = [n for n in names if isinstance(graph.nodes[n], nir.Input)]
        self.outputs = [n for n in names if isinstance(graph.nodes[n], nir.Output)]
        scheme = opts.scheme(self.metadata)
        self.scheme = scheme
        bias_start = opts.recurrent_bias_at_start
        if bias_start is None:
            bias_start = bool(opts.meta(self.metadata, "recurrent_bias_at_start") or False)
        self.recurrent_bias_at_start = bias_start
        inherited = replace(opts, discretization=scheme, recurrent_bias_at_start=bias_start)  # for sub-graphs
        modules = {n: node_module(n, graph.nodes[n], inherited, scheme) for n in names}
        self.folded: dict[str, dict[str, str]] = {}
        edges = self._fold(graph, modules, edges, opts, bias_start)
        removed = {v for f in self.folded.values() for v in f.values()}
        self.names = [n for n in names if n not in removed]
        self.edges = edges
        self.all_edges = [(str(s), str(d)) for s, d in graph.edges]
        self.back = back_edges(self.names, self.edges, self.inputs)
        fwd = [e for e in self.edges if e not in self.back]
        self.order = topo_order(self.names, fwd)
        self.preds: dict[str, list[tuple[str, bool]]] = {n: [] for n in self.names}
        for s, d in self.edges:
            self.preds[d].append((s, (s, d) in self.back))
        self.keys: dict[str, str] = {}
        used: set[str] = set()
        for i, n in enumerate(self.names):
            key = n if n.isalnum() else "".join(c if c.isalnum() or c == "_" else "_" for c in n) or "node"
            key = key if key not in used else f"{key}_{i}"
            used.add(key)
            self.keys[n] = key
        self.layers = nn.ModuleDict()
        # filled directly: add_module's per-key attribute probe costs an exception per node, and refuses
        # node names that are ModuleDict methods ("keys", "update", ...); the keys are valid module names
        self.layers._modules.update((self.keys[n], modules[n]) for n in self.names)
        self.name = name
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.in_shapes: dict[str, tuple[int, ...]] = {}
        self._infer_shapes()
        # for re-export: the file's own nodes are written back verbatim while a module is unchanged
        self.neutral_options = (opts.threshold == "gt" and opts.if_gain == "euler" and opts.reset is None
                                and opts.neuron_dt is None and not opts.flatten_batch and opts.use_metadata
                                and not opts.start_at_reset)
        self.dt = opts.dt
        self.pristine = {n: fingerprint(modules[n]) for n in self.names}

    def _fold(self, graph: nir.NIRGraph, modules: dict[str, nn.Module], edges: list[tuple[str, str]],
              opts: ImportOptions, bias_start: bool) -> list[tuple[str, str]]:
        """Fold neuron -> graded Scale (spikeflow metadata) into graded_spikes, and neuron (-> graded) ->
        Affine/Linear/Scale -> neuron loops into RLeaky/RSynaptic. Returns the remaining edges."""
        nodes = graph.nodes
        succ: dict[str, list[str]] = {n: [] for n in nodes}
        pred: dict[str, list[str]] = {n: [] for n in nodes}
        for s, d in edges:
            succ[s].append(d)
            pred[d].append(s)
        taken: set[str] = set()
        for n, node in nodes.items():
            if not isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)) or n in taken:
                continue
            graded = None
            if len(succ[n]) == 1:
                g = succ[n][0]
                if (isinstance(nodes[g], nir.Scale) and opts.meta(nodes[g].metadata, "graded_spikes")
                        and pred[g] == [n] and g not in taken):
                    graded = g
            src, rec = graded or n, None
            for d in succ[src]:
                r = nodes[d]
                if (isinstance(r, (nir.Affine, nir.Linear, nir.Scale)) and pred[d] == [src] and succ[d] == [n]
                        and d not in taken and d != n):
                    has_bias = isinstance(r, nir.Affine) and bool(array(d, "bias", r.bias).any())
                    if bias_start or not has_bias:
                        rec = d
                        break
            if rec is None and graded is None:
                continue
            try:
                new = fold_recurrence(n, modules[n], rec, nodes[rec]) if rec is not None else modules[n]
                if graded is not None:
                    set_graded(new, graded, nodes[graded])
            except ValueError:
                continue
            modules[n] = new
            self.folded[n] = {k: v for k, v in (("rec", rec), ("graded", graded)) if v is not None}
            taken |= {n, *self.folded[n].values()}
        if not self.folded:
            return edges
        merged = {v: n for n, f in self.folded.items() for v in f.values()}
        out = []
        for s, d in edges:
            if d in merged or (s in merged and self.folded[merged[s]].get("rec") == s):
                continue  # edges into the folded nodes, and the back edge
            out.append((merged.get(s, s), d))  # the graded Scale's consumers now read the neuron
        into: dict[str, list[str]] = {}
        for s, d in out:
            into.setdefault(d, []).append(s)
        for n, f in self.folded.items():
            if "rec" in f:
                restore_split_bias(n, f["rec"], nodes, modules, into.get(n, []), opts)
        return out

    # -- structure ----------------------------------------------------------------------
    def node(self, name: str) -> nn.Module:
        """The module of a NIR node by its name in the graph."""
        if name not in self.keys:
            raise KeyError(f"name: no node {name!r}; nodes: {self.names}")
        return self.layers[self.keys[name]]

    @property
    def cyclic(self) -> bool:
        return bool(self.back)

    def _input_shape(self, n: str) -> tuple[int, ...]:
        t = self.nir_nodes[n].input_type.get("input") if isinstance(self.nir_nodes[n].input_type, dict) else None
        a = np.asarray(t) if t is not None else np.asarray([])
        valid = a.size > 0 and a.dtype.kind in "iuf" and np.isfinite(a).all()
        if not valid or (a <= 0).any() or (a != a.round()).any():
            raise ValueError(f"graph {self.name!r}: Input node {n!r} has no valid shape (got {t!r})")
        if float(np.prod(a.astype(np.float64))) > MAX_SAMPLE:
            raise ValueError(
                f"graph {self.name!r}: Input node {n!r} has an implausible shape {t!r} (> {MAX_SAMPLE} values)"
            )
        return tuple(int(v) for v in a.ravel())

    def _infer_shapes(self) -> None:
        """Dry run of one step on zeros: every node's output shape, with clear errors."""
        vals: dict[str, Tensor] = {}
        with torch.no_grad():
            for n in self.order:
                if n in self.inputs:
                    v = torch.zeros(1, *self._input_shape(n))
                else:
                    ins = [(s, vals[s]) for s, back in self.preds[n] if not back]
                    v = self._sum(n, ins)
                self.in_shapes[n] = tuple(v.shape[1:])
                self._check_declared(n, tuple(v.shape[1:]))
                try:
                    v = self._dry_step(n, v)
                except Exception as e:
                    raise ValueError(
                        f"graph {self.name!r}: node {n!r} ({type(self.nir_nodes[n]).__name__}) cannot take an input "
                        f"of shape {tuple(v.shape[1:])}: {e}"
                    ) from None
                vals[n] = v
                self.shapes[n] = tuple(v.shape[1:])
        for s, d in self.back:
            if self.shapes[s] != self.in_shapes[d]:
                raise ValueError(
                    f"graph {self.name!r}: recurrent edge ({s!r}, {d!r}) carries shape {self.shapes[s]} but {d!r} "
                    f"takes {self.in_shapes[d]}"
                )

    def _dry_step(self, n: str, v: Tensor) -> Tensor:
        """One step on zeros for the shapes. An Identity or a Scale gives the broadcast of its input and
        its scale (zeros either way), so it is not run: thousands of them would cost more than the rest."""
        m = self.layers[self.keys[n]]
        if type(m) is nn.Identity:
            return v
        if type(m) is Scale:
            return v.expand(np.broadcast_shapes(v.shape, m.scale.shape))  # torch's imports sympy on first use
        return self._call_step(n, v, None)[0]

    def _check_declared(self, n: str, shape: tuple[int, ...]) -> None:
        node = self.nir_nodes[n]
        if isinstance(node, (nir.Input, nir.NIRGraph)):
            return
        t = node.output_type.get("output") if isinstance(node, nir.Output) else _declared_input(node)
        try:
            a = np.asarray(t) if t is not None else np.zeros(0)
            if a.dtype.kind in "iu":  # the common case: no float checks needed
                declared = tuple(a.ravel().tolist())
            else:
                valid = (a.dtype.kind == "f" and a.size > 0 and bool(np.isfinite(a).all())
                         and bool((a == a.round()).all()))
                declared = tuple(int(v) for v in a.ravel()) if valid else ()
        except (TypeError, ValueError, OverflowError):
            declared = ()
        if isinstance(node, nir.Output) and (not declared or min(declared) <= 0):
            raise ValueError(f"graph {self.name!r}: Output node {n!r} has no valid shape (got {t!r})")
        if not declared or declared == shape:
            return
        if int(np.prod(declared)) == int(np.prod(shape)):
            warnings.warn(f"graph {self.name!r}: node {n!r} declares shape {declared}, receives {shape}; using {shape}",
                          UserWarning, stacklevel=4)
            return
        raise ValueError(
            f"graph {self.name!r}: node {n!r} declares input shape {declared} but its edges deliver {shape}"
        )

    def _sum(self, n: str, ins: list[tuple[str, Tensor]]) -> Tensor:
        if not ins:
            raise ValueError(f"graph {self.name!r}: node {n!r} has no input")
        total = ins[0][1]
        for s, v in ins[1:]:
            if v.shape != total.shape:
                raise ValueError(
                    f"graph {self.name!r}: edges into {n!r} disagree in shape: ({ins[0][0]!r}, {n!r}) gives "
                    f"{tuple(total.shape)}, ({s!r}, {n!r}) gives {tuple(v.shape)}"
                )
            total = total + v
        return total

    def _call_step(self, n: str, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        m = self.layers[self.keys[n]]
        if _stateful(m):
            return m.step(x_t, state)
        return m(x_t), None

    def _start_value(self, src: str, x_like: Tensor) -> Tensor:
        zeros = x_like.new_zeros((x_like.shape[0], *self.shapes[src]))
        node = self.nir_nodes[src]
        if self.recurrent_bias_at_start and isinstance(node, nir.Affine):
            return zeros + self.layers[self.keys[src]].bias.to(zeros.dtype)
        return zeros

    # -- inputs / outputs / state -------------------------------------------------------------
    def _inputs(self, x: Any, min_dim: int) -> dict[str, Tensor]:
        if isinstance(x, Tensor):
            if len(self.inputs) != 1:
                raise ValueError(f"x: graph has inputs {self.inputs}; pass a dict of Tensors")
            x = {self.inputs[0]: x}
        if not isinstance(x, dict) or set(x) != set(self.inputs):
            raise ValueError(f"x: expected a Tensor or a dict with keys {self.inputs}, got {type(x).__name__}")
        for k, v in x.items():
            want = self.shapes[k]
            if not isinstance(v, Tensor) or v.dim() != min_dim + len(want) or tuple(v.shape[min_dim:]) != want:
                got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
                lead = "[T, B, " if min_dim == 2 else "[B, "
                raise ValueError(f"x: input {k!r} expects {lead}{', '.join(map(str, want))}], got {got}")
            if not v.is_floating_point():
                raise TypeError(f"x: input {k!r} must be floating point, got {v.dtype}")
        return x

    def _output(self, vals: dict[str, Tensor]) -> Any:
        if len(self.outputs) == 1:
            return vals[self.outputs[0]]
        return {n: vals[n] for n in self.outputs}

    def _check_state(self, state: Any) -> dict[str, dict[str, Any]]:
        if state is None:
            return {"nodes": {}, "prev": {}}
        if not isinstance(state, dict) or set(state) != {"nodes", "prev"}:
            raise TypeError("state: expected None or the dict {'nodes': ..., 'prev': ...} returned by this network")
        return state

    # -- running ----------------------------------------------------------------------------
    def step(self, x_t: Any, state: Any = None) -> tuple[Any, dict[str, dict[str, Any]]]:
        """One step: x_t [B, ...] -> (output [B, ...], new state)."""
        xs = self._inputs(x_t, 1)
        state = self._check_state(state)
        like = next(iter(xs.values()))
        vals: dict[str, Tensor] = {}
        nodes: dict[str, Any] = {}
        for n in self.order:
            if n in self.inputs:
                v = xs[n]
            else:
                ins = []
                for s, back in self.preds[n]:
                    if back:
                        prev = state["prev"].get(s)
                        ins.append((s, prev if prev is not None else self._start_value(s, like)))
                    else:
                        ins.append((s, vals[s]))
                v = self._sum(n, ins)
            v, st = self._call_step(n, v, state["nodes"].get(n))
            if st is not None:
                nodes[n] = st
            vals[n] = v
        prev = {s: vals[s] for s, _ in self.back}
        return self._output(vals), {"nodes": nodes, "prev": prev}

    def forward(self, x: Any, state: Any = None, record: bool = False) -> tuple[Any, Any]:
        xs = self._inputs(x, 2)
        state = self._check_state(state)
        if self.cyclic:
            steps, records = [], []
            for t in range(next(iter(xs.values())).shape[0]):
                out, state = self.step({k: v[t] for k, v in xs.items()}, state)
                steps.append(out)
            if isinstance(steps[0], dict):
                out = {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
            else:
                out = torch.stack(steps)
            if record:
                raise ValueError("record: not supported for graphs with cycles; step the network instead")
            del records
            return out, state
        vals: dict[str, Tensor] = {}
        nodes: dict[str, Any] = {}
        for n in self.order:
            v = xs[n] if n in self.inputs else self._sum(n, [(s, vals[s]) for s, _ in self.preds[n]])
            m = self.layers[self.keys[n]]
            if _stateful(m):
                v, st = m(v, state["nodes"].get(n))
                nodes[n] = st
            elif not isinstance(m, nn.Identity):
                v = time_distributed(m, v)
            vals[n] = v
        return self._output(vals), (vals if record else {"nodes": nodes, "prev": {}})

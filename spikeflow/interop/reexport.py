"""Export of an imported NIRNetwork: the file's own nodes come back verbatim (float64 values,
v_leak, metadata) while a module is unchanged since import and was imported with the options
NIR itself implies; anything changed (trained, edited, other options) is written from the
values the module runs with."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import nir
import numpy as np

from .network import NIRNetwork, fingerprint, same_fingerprint

if TYPE_CHECKING:
    from .export import Exporter, Piece

_BIAS_NOTE = ("a recurrent bias delivered from t = 0 (graph metadata spikeflow_recurrent_bias_at_start; "
              "readers that start back edges at zero differ at the first step)")


def _has_bias(node: Any) -> bool:
    return isinstance(node, nir.Affine) and bool(np.any(np.asarray(node.bias) != 0))


def network_graph(ex: Exporter, net: NIRNetwork, prefix: str) -> nir.NIRGraph:
    from .export import Piece

    outer, ex.prefix = ex.prefix, prefix
    try:
        copy_ok = net.neutral_options and abs(ex.dt - net.dt) <= 1e-12 * ex.dt and ex.scheme == net.scheme
        unchanged = {n: copy_ok and same_fingerprint(net.pristine[n], fingerprint(net.node(n))) for n in net.names}
        for n in net.names:  # a bias split between an Affine and a folded neuron: both or neither verbatim
            of = net.options.meta(getattr(net.nir_nodes[n], "metadata", None), "recurrent_bias_of")
            if isinstance(of, str) and of in unchanged and not (unchanged[n] and unchanged[of]):
                unchanged[n] = unchanged[of] = False
        nodes: dict[str, nir.NIRNode] = {}
        edges = list(net.all_edges)
        rebuilt: list[tuple[str, Piece]] = []
        for n in net.names:
            src, m, fold = net.nir_nodes[n], net.node(n), net.folded.get(n, {})
            if isinstance(src, nir.Input):
                nodes[n] = nir.Input(input_type={"input": np.asarray(net.shapes[n])})
                continue
            if isinstance(src, nir.Output):
                nodes[n] = nir.Output(output_type={"output": np.asarray(net.shapes[n])})
                continue
            neuron = getattr(m, "is_stateful", False) and not isinstance(m, NIRNetwork) and not isinstance(
                src, nir.Delay)
            if unchanged[n] and neuron:  # same reset as the file says (an override makes it differ)
                try:
                    written = ex.neuron(n, m, net.shapes[n]).nodes[n].metadata
                except ValueError:
                    written = None
                unchanged[n] = written is not None and _same_reset(written, src.metadata, net)
            if unchanged[n] and not isinstance(src, nir.NIRGraph):
                for k in (n, *fold.values()):
                    nodes[k] = copy.deepcopy(net.nir_nodes[k])
                if "rec" in fold and _has_bias(net.nir_nodes[fold["rec"]]):
                    ex.note(n, _BIAS_NOTE)
                    ex.bias_at_start = True
                continue
            if neuron:
                piece = ex.neuron(n, m, net.shapes[n])
            else:
                piece = ex.layer(n, m, net.in_shapes[n]) or Piece({n: nir.Scale(scale=np.ones(net.shapes[n]))},
                                                                   [], n, n)
            edges = _rewire(piece, n, fold, edges, nodes)
            rebuilt.append((n, piece))
        for n, piece in rebuilt:  # a changed recurrent neuron: fold its bias into the Affine before it, if any
            if f"{n}.w_rec" in piece.nodes or net.folded.get(n, {}).get("rec") in nodes:
                _refold_bias(ex, net, n, nodes, edges)
        for s, _ in net.back:
            if net.recurrent_bias_at_start and _has_bias(nodes.get(s)):
                ex.note(s, _BIAS_NOTE)
                ex.bias_at_start = True
    finally:
        ex.prefix = outer
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(net.metadata), type_check=False)


def _rewire(piece: Piece, n: str, fold: dict[str, str], edges: list[tuple[str, str]],
            nodes: dict[str, nir.NIRNode]) -> list[tuple[str, str]]:
    """Put a module's nodes in place of the file's nodes {n, rec, graded}, keeping the edges in and out."""
    group = {n, *fold.values()}
    rename = {n: n}
    for suffix, role in ((".w_rec", "rec"), (".graded", "graded")):
        if n + suffix in piece.nodes:
            rename[n + suffix] = fold.get(role, n + suffix)
    for k, node in piece.nodes.items():
        nodes[rename.get(k, k)] = node
    consumers = [d for s, d in edges if s in group and d not in group]
    kept = [(s, d) for s, d in edges if s not in group and d not in group or (d == n and s not in group)]
    exit_ = rename.get(piece.exit, piece.exit)
    return kept + [(rename.get(s, s), rename.get(d, d)) for s, d in piece.edges] + [(exit_, c) for c in consumers]


def _refold_bias(ex: Exporter, net: NIRNetwork, n: str, nodes: dict[str, nir.NIRNode],
                 edges: list[tuple[str, str]]) -> None:
    rec = net.folded.get(n, {}).get("rec", f"{n}.w_rec")
    node = nodes.get(rec)
    if not isinstance(node, nir.Affine):
        return
    if not _has_bias(node):
        nodes[rec] = nir.Linear(weight=node.weight)
        return
    preds = [s for s, d in edges if d == n and s != rec]
    ff = nodes.get(preds[0]) if len(preds) == 1 else None
    feeds_only_n = len(preds) == 1 and [d for s, d in edges if s == preds[0]] == [n]
    if isinstance(ff, (nir.Affine, nir.Linear)) and feeds_only_n and not isinstance(net.nir_nodes.get(preds[0]),
                                                                                    nir.Input):
        from .options import META

        b_rec = np.asarray(node.bias, np.float32)
        own = np.zeros(b_rec.shape, np.float32) if isinstance(ff, nir.Linear) else np.asarray(ff.bias, np.float32)
        meta = {k: v for k, v in ff.metadata.items() if not str(k).startswith(META + "recurrent")}
        nodes[preds[0]] = nir.Affine(weight=ff.weight, bias=own.astype(np.float64) + b_rec, metadata={
            **meta, META + "own_bias": own, META + "recurrent_bias": b_rec, META + "recurrent_bias_of": n,
            META + "had_bias": isinstance(ff, nir.Affine)})
        nodes[rec] = nir.Linear(weight=node.weight)
        return
    ex.note(n, _BIAS_NOTE)
    ex.bias_at_start = True


def _same_reset(written: dict[str, Any], source: Any, net: NIRNetwork) -> bool:
    meta = net.options.meta
    was = (meta(source, "reset") or "zero", bool(meta(source, "reset_delay") or False))
    now = (written.get("spikeflow_reset", "zero"), bool(written.get("spikeflow_reset_delay", False)))
    return was == now

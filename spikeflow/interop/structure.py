"""Structural checks of a NIR graph level, all linear in the number of nodes and edges.

Nothing is repaired: a graph without an Input or an Output, a node no edge reaches, a node
whose output goes nowhere, or a cycle with no stateful node (no neuron, Delay or stateful
sub-graph: NIR gives such a loop no meaning in discrete time) is refused with a ValueError.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

STATEFUL = (nir.I, nir.IF, nir.LI, nir.LIF, nir.CubaLI, nir.CubaLIF, nir.Delay)


def check_edges(nodes: dict[str, Any], edges: list[tuple[str, str]], where: str) -> None:
    """Every edge must join two nodes of this graph level; no duplicates."""
    seen = set()
    for src, dst in edges:
        for role, name in (("source", src), ("destination", dst)):
            if name not in nodes:
                listed = sorted(nodes)[:20]
                raise ValueError(
                    f"{where}: edge ({src!r}, {dst!r}) has {role} {name!r}, which is not a node of this graph "
                    f"(nodes: {listed}{' ...' if len(nodes) > 20 else ''})"
                )
        if (src, dst) in seen:
            raise ValueError(f"{where}: duplicate edge ({src!r}, {dst!r})")
        seen.add((src, dst))


def is_stateful(node: Any) -> bool:
    if isinstance(node, STATEFUL):
        return True
    if isinstance(node, nir.NIRGraph):
        return any(is_stateful(n) for n in node.nodes.values())
    return False


def strongly_connected(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with a cycle (size > 1 or a self loop)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(succ[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in succ[node]:
                    found.append(comp[::-1])
    return found


def check_structure(nodes: dict[str, Any], edges: list[tuple[str, str]], where: str) -> None:
    """One graph level: edges join known nodes; Inputs start, Outputs end, every other node has an
    incoming and an outgoing edge; every cycle holds a stateful node."""
    check_edges(nodes, edges, where)
    if not nodes:
        raise ValueError(f"{where}: graph has no nodes")
    has_in = {d for _, d in edges}
    has_out = {s for s, _ in edges}
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
    if not inputs:
        raise ValueError(f"{where}: graph has no Input node (nothing is invented: add one, e.g. nir.Input)")
    if not outputs:
        raise ValueError(f"{where}: graph has no Output node (nothing is invented: add one, e.g. nir.Output)")
    for n, v in nodes.items():
        if isinstance(v, nir.Input):
            if n in has_in:
                raise ValueError(f"{where}: Input node {n!r} receives an edge")
        elif n not in has_in:
            raise ValueError(f"{where}: node {n!r} ({type(v).__name__}) receives no edge and is not an Input")
        if isinstance(v, nir.Output):
            if n in has_out:
                raise ValueError(f"{where}: Output node {n!r} has an outgoing edge")
        elif n not in has_out:
            raise ValueError(f"{where}: node {n!r} ({type(v).__name__}) has no outgoing edge and is not an Output")
    for comp in strongly_connected(list(nodes), edges):
        if not any(is_stateful(nodes[n]) for n in comp):
            loop = " -> ".join(repr(n) for n in comp[:6]) + (" ..." if len(comp) > 6 else "")
            raise ValueError(f"{where}: the cycle {loop} contains no stateful node (neuron, Delay); NIR does not "
                             "define when such a loop is evaluated, and no one-step delay is assumed")


def _type(t: Any, key: str) -> np.ndarray | None:
    if not isinstance(t, dict):
        return None
    v = t.get(key)
    if v is None:
        return None
    try:
        a = np.asarray(v)
    except Exception:
        return None
    return a if a.dtype.kind in "iuf" and a.size > 0 else None


def _declared_input(node: Any) -> np.ndarray | None:
    t = _type(getattr(node, "input_type", None), "input")
    if t is not None and isinstance(node, (nir.Conv1d, nir.Conv2d)) and t.size >= 1:
        groups = np.asarray(node.groups).ravel()
        if groups.size == 1 and groups.dtype.kind in "iu" and int(groups[0]) > 1:  # nir counts in_channels/groups
            t = t.astype(np.int64).copy()
            t.ravel()[0] *= int(groups[0])
    return t


def type_check_warnings(graph: nir.NIRGraph, where: str = "") -> list[str]:
    """Edges whose declared source output type differs from the destination's declared input type."""
    out: list[str] = []
    for s, d in graph.edges:
        src, dst = graph.nodes[s], graph.nodes[d]
        if isinstance(src, nir.NIRGraph) or isinstance(dst, nir.NIRGraph):
            continue
        a = _type(getattr(src, "output_type", None), "output")
        b = _declared_input(dst)
        if a is not None and b is not None and not np.array_equal(a.ravel(), b.ravel()):
            out.append(f"{where}edge ({s!r}, {d!r}): {s!r} gives {a.ravel().tolist()}, {d!r} takes "
                       f"{b.ravel().tolist()}")
    for n, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            out += type_check_warnings(node, f"{where}{n}.")
    return out

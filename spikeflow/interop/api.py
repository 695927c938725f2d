"""Public entry points: from_nir / load_nir (import) and to_nir / save_nir (export)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nir
import numpy as np
from torch import nn

from .conventions import PRESETS, check_convention, guess, log, norse_time_scale
from .network import NIRNetwork
from .options import ImportOptions
from .reader import check_structure, read_graph


def from_nir(graph_or_path: nir.NIRGraph | str | Path, dt: float | None = None, *, convention: str | None = None,
             discretization: str | None = None, reset: str | None = None, reset_delay: bool | None = None,
             threshold: str | None = None, if_gain: str | None = None, recurrent_bias_at_start: bool | None = None,
             flatten_batch: bool = False, use_metadata: bool = True, type_check: bool = True) -> NIRNetwork:
    """A NIR graph (or file) as a spikeflow module: ``out, state = net(x)`` with x [T, B, ...].

    convention: "nir", "spikeflow", "snntorch", "norse" or "spikingjelly" sets every option that
    exporter implies (conventions.py); None guesses it from the file's traces and logs the guess
    (logger "spikeflow.interop"). Options given here override the preset; see ImportOptions and
    docs/nir.md. The given graph is never modified.
    """
    check_convention(convention)
    with _gc_paused():
        return _from_nir(graph_or_path, dt, convention, discretization, reset, reset_delay, threshold, if_gain,
                         recurrent_bias_at_start, flatten_batch, use_metadata, type_check)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a graph is read and built: the many small objects
    created per node would otherwise trigger full collections that traverse everything built so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _from_nir(graph_or_path: nir.NIRGraph | str | Path, dt: float | None, convention: str | None,
              discretization: str | None, reset: str | None, reset_delay: bool | None, threshold: str | None,
              if_gain: str | None, recurrent_bias_at_start: bool | None, flatten_batch: bool, use_metadata: bool,
              type_check: bool) -> NIRNetwork:
    source = str(graph_or_path) if isinstance(graph_or_path, (str, Path)) else "graph"
    if isinstance(graph_or_path, (str, Path)):
        graph = read_graph(graph_or_path, type_check=type_check)
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
        check_structure(graph.nodes, [tuple(e) for e in graph.edges], "graph")
    elif isinstance(graph_or_path, nir.NIRNode):
        graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=graph_or_path.input_type), "node": graph_or_path,
                                    "output": nir.Output(output_type=graph_or_path.output_type)},
                             edges=[("input", "node"), ("node", "output")], type_check=False)
        check_structure(graph.nodes, [tuple(e) for e in graph.edges], "graph")
    else:
        raise TypeError(f"graph_or_path: expected a nir.NIRGraph or a file path, got {type(graph_or_path).__name__}")
    if convention is None:
        convention, trace = guess(graph)
        log.info("%s: NIR convention guessed as %r from %s; pass convention=... to choose", source, convention, trace)
    preset = PRESETS[convention]
    given = dict(dt=dt, threshold=threshold, if_gain=if_gain, reset_delay=reset_delay,
                 recurrent_bias_at_start=recurrent_bias_at_start)
    chosen = {k: (v if v is not None else preset.get(k)) for k, v in given.items()}
    try:
        hint = float(ImportOptions(use_metadata=use_metadata).meta(graph.metadata, "dt"))
    except (TypeError, ValueError):
        hint = None  # absent or unreadable: dt is only a hint
    if chosen["dt"] is None:
        chosen["dt"] = hint if hint is not None and np.isfinite(hint) and hint > 0 else 1e-4
    neuron_dt = None
    if convention == "norse" and norse_time_scale(graph, chosen["dt"]):
        neuron_dt = chosen["dt"] ** 2
        log.warning("%s: every time constant is below dt=%g: read as Norse 1.1.0's tau * dt (norse/norse#411), "
                    "i.e. decays from dt**2", source, chosen["dt"])
    opts = ImportOptions(chosen["dt"], discretization, reset, chosen["reset_delay"], chosen["threshold"] or "gt",
                         chosen["if_gain"] or "euler", chosen["recurrent_bias_at_start"], flatten_batch, use_metadata,
                         convention=convention, neuron_dt=neuron_dt,
                         start_at_reset=bool(preset.get("start_at_reset", False)))
    if hint is not None and abs(hint - opts.dt) > 1e-9 * opts.dt:
        warnings.warn(f"dt: the file was exported with dt={hint!r} but is imported with dt={opts.dt!r}",
                      UserWarning, stacklevel=3)
    if not isinstance(graph_or_path, (str, Path)):
        return NIRNetwork(graph, opts, checked=True)
    try:
        return NIRNetwork(graph, opts, checked=True)  # read_graph checked the structure
    except ValueError as e:  # name the file as well as the node
        raise ValueError(f"{graph_or_path}: {e}") from None


def load_nir(path: str | Path, dt: float | None = None, **options: Any) -> NIRNetwork:
    """Read a .nir file and import it (``from_nir`` options, ``convention=`` included)."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path: expected a file path, got {type(path).__name__}")
    return from_nir(path, dt, **options)


def save_nir(module_or_graph: nn.Module | nir.NIRGraph, path: str | Path, input_shape: Any = None,
             dt: float = 1e-4, **options: Any) -> nir.NIRGraph:
    """Write a module (exported with ``to_nir``) or a NIR graph to ``path``; returns the graph."""
    from .export import to_nir

    if isinstance(module_or_graph, nir.NIRGraph):
        graph = module_or_graph
    elif isinstance(module_or_graph, nn.Module):
        graph = to_nir(module_or_graph, input_shape, dt, **options)
    else:
        got = type(module_or_graph).__name__
        raise TypeError(f"module_or_graph: expected an nn.Module or a nir.NIRGraph, got {got}")
    nir.write(str(path), graph)
    return graph

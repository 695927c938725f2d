"""Integer export of a quantized model: codes + scales, as tensors or inside a NIR graph.

``integer_weights(model)`` -> {module name: IntegerWeights}: what a chip toolchain stores.
``to_nir_integer(model, input_shape, ...)`` writes the weight arrays of every quantized layer
as integer-valued codes and puts the scale (and zero point, scheme, bit width) in the node's
metadata (``spikeflow_quant_*``); ``from_nir_integer`` multiplies them back, so the imported
network equals the quantized model. A reader that ignores the metadata sees integer weights.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from ..neurons.recurrent import RLeaky, RSynaptic
from .qat import quantized_modules
from .weights import IntegerWeights, MinifloatQuantizer

META = "spikeflow_quant_"


def integer_weights(model: nn.Module) -> dict[str, IntegerWeights]:
    """The integer codes and scales of every weight-quantized module of ``model``."""
    out = {name: q.integer(m.parametrizations["weight"].original) for name, m, q in quantized_modules(model)}
    if not out:
        raise ValueError("model: no quantized weights (call spikeflow.quant.quantize first)")
    return out


def _node_name(model: nn.Module, module_name: str) -> str:
    """The NIR node that holds ``module_name``'s weight in spikeflow's export."""
    parts = module_name.split(".")
    if len(parts) == 1:
        return "input_" if parts[0] == "input" else ("output_" if parts[0] == "output" else parts[0])
    if len(parts) == 2 and parts[1] == "recurrent":
        owner = model.get_submodule(parts[0])
        if isinstance(owner, (RLeaky, RSynaptic)):
            return f"{parts[0]}.w_rec"
    raise ValueError(f"module {module_name!r}: integer NIR export supports top-level layers of a Sequential and "
                     "recurrent neurons' feedback weights")


def to_nir_integer(model: nn.Module, input_shape: Any, dt: float = 1e-4, **options: Any) -> nir.NIRGraph:
    """A NIR graph of a quantized model with integer-valued weight arrays and scales in metadata."""
    from ..interop import to_nir

    codes = integer_weights(model)
    for q in (q for _, _, q in quantized_modules(model)):
        if isinstance(q, MinifloatQuantizer):
            raise ValueError(f"weight scheme {q.scheme!r}: minifloat codes are not integers; export the "
                             "dequantized model with spikeflow.interop.to_nir instead")
    graph = to_nir(model, input_shape, dt, **options)  # weights as the model runs them: codes * scale
    for name, iw in codes.items():
        node_name = _node_name(model, name)
        node = graph.nodes.get(node_name)
        if node is None or not hasattr(node, "weight"):
            raise ValueError(f"module {name!r}: no weight node {node_name!r} in the exported graph")
        shape = np.asarray(node.weight).shape
        if tuple(iw.codes.shape) != shape:
            raise ValueError(f"module {name!r}: node {node_name!r} has weight shape {shape}, the codes "
                             f"{tuple(iw.codes.shape)}")
        node.weight = iw.codes.cpu().numpy().astype(np.float32)
        node.metadata = {**dict(node.metadata or {}),
                         META + "scale": np.broadcast_to(iw.scale.double().cpu().numpy(), shape).copy(),
                         META + "zero_point": np.broadcast_to(iw.zero_point.double().cpu().numpy(), shape).copy(),
                         META + "scheme": iw.scheme, META + "bits": int(iw.bits)}
        if not np.array_equal(np.asarray(node.weight), np.round(np.asarray(node.weight))):
            raise AssertionError(f"node {node_name!r}: exported weights are not integers")  # pragma: no cover
    return graph


def _dequantized(graph: nir.NIRGraph) -> nir.NIRGraph:
    graph = copy.deepcopy(graph)
    for name, node in graph.nodes.items():
        meta = dict(getattr(node, "metadata", None) or {})
        if META + "scale" not in meta:
            continue
        w = np.asarray(node.weight, dtype=np.float64)
        scale = np.asarray(meta[META + "scale"], dtype=np.float64)
        zero = np.asarray(meta.get(META + "zero_point", 0.0), dtype=np.float64)
        try:
            node.weight = ((w - zero) * scale).astype(np.float32)
        except ValueError as e:
            raise ValueError(f"node {name!r}: {META}scale does not fit the weight of shape {w.shape} ({e})") from None
    return graph


def from_nir_integer(graph_or_path: nir.NIRGraph | str | Path, dt: float = 1e-4, **options: Any) -> nn.Module:
    """Import a graph written by :func:`to_nir_integer`, applying each node's scale."""
    from ..interop import from_nir

    graph = nir.read(str(graph_or_path)) if isinstance(graph_or_path, (str, Path)) else graph_or_path
    return from_nir(_dequantized(graph), dt, **options)


def save_integer(model: nn.Module, path: str | Path) -> Path:
    """Write {name: codes, scale, zero_point, scheme, bits} with torch.save (load with weights_only=True)."""
    payload = {name: {"codes": iw.codes, "scale": iw.scale, "zero_point": iw.zero_point, "scheme": iw.scheme,
                      "bits": iw.bits} for name, iw in integer_weights(model).items()}
    path = Path(path)
    torch.save(payload, path)
    return path

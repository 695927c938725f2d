"""quantize(model): fake-quantized weights with straight-through training, integer export, NIR."""

from __future__ import annotations

import nir
import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.models import spiking_mlp
from spikeflow.quant import (
    dequantize,
    from_nir_integer,
    integer_weights,
    quantize,
    quantized_modules,
    save_integer,
    to_nir_integer,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return spiking_mlp(12, 16, 3)


def _x() -> torch.Tensor:
    return (torch.rand(8, 4, 12, generator=torch.Generator().manual_seed(1)) < 0.4).float()


def test_forward_uses_quantized_weights_and_trains_shadow_weights() -> None:
    model = quantize(_model(), weight_bits=4)
    fc = model[0]
    shadow = fc.parametrizations.weight.original
    iw = integer_weights(model)["0"]
    assert torch.equal(fc.weight, iw.codes.float() * iw.scale)
    assert len(fc.weight.unique()) <= 15
    out, _ = model(_x())
    out.sum().backward()
    assert shadow.grad is not None and shadow.grad.abs().sum() > 0
    before = shadow.detach().clone()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.equal(before, shadow)


def test_state_dict_round_trip_and_dequantize() -> None:
    a = quantize(_model(), weight_bits=3, state_bits=6)
    b = quantize(spiking_mlp(12, 16, 3), weight_bits=3, state_bits=6)
    b.load_state_dict(a.state_dict())
    x = _x()
    assert torch.equal(a(x)[0], b(x)[0])
    frozen_weight = a[2].weight.detach().clone()
    dequantize(a)
    assert not list(quantized_modules(a)) and torch.equal(a[2].weight, frozen_weight)
    assert all(getattr(m, "state_quant", None) is None for m in a.modules())


def test_every_scheme_runs_and_per_channel() -> None:
    for bits, scheme in ((8, "int"), (4, "affine"), (2, "int"), (1, "binary"), (4, "fp4"), (8, "fp8")):
        model = quantize(_model(), weight_bits=bits, weight_scheme=scheme, per_channel=True)
        out, _ = model(_x())
        assert out.shape == (8, 4, 3), (bits, scheme)


def test_integer_nir_export_round_trip(tmp_path) -> None:
    model = quantize(_model(), weight_bits=4)
    graph = to_nir_integer(model, (12,))
    for name in ("0", "2"):
        w = graph.nodes[name].weight
        assert (w == w.round()).all() and abs(w).max() <= 7
        assert "spikeflow_quant_scale" in graph.nodes[name].metadata
    path = tmp_path / "q.nir"
    nir.write(str(path), graph)
    net = from_nir_integer(path)
    x = _x()
    ours, _ = model(x)
    theirs, _ = net(x)
    assert torch.equal(ours, theirs)
    saved = torch.load(save_integer(model, tmp_path / "codes.pt"), weights_only=True)
    assert saved["0"]["codes"].dtype == torch.int32 and saved["0"]["bits"] == 4


def test_recurrent_feedback_weights_are_quantized() -> None:
    torch.manual_seed(0)
    model = sf.Sequential(nn.Linear(5, 6), sf.RLeaky(beta=0.9, linear_features=6))
    quantize(model, weight_bits=4)
    names = [n for n, _, _ in quantized_modules(model)]
    assert names == ["0", "1.recurrent"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "weight_bits and/or state_bits"),
    ({"weight_bits": 4, "weight_scheme": "int3"}, "weight_scheme"),
    ({"weight_bits": 4, "skip": ["nope"]}, "skip"),
])
def test_bad_arguments(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        quantize(_model(), **kwargs)


def test_no_layer_to_quantize() -> None:
    with pytest.raises(ValueError, match="no Linear or Conv"):
        quantize(sf.Leaky(beta=0.5), weight_bits=4)
    with pytest.raises(TypeError, match="model"):
        quantize("net", weight_bits=4)

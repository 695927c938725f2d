"""BitLinear (ternary weights, 8-bit tokens) and its integer add/subtract inference path."""

from __future__ import annotations

import pytest
import torch

from spikeflow.layers.bitlinear import BitLinear, RMSNorm, activation_codes
from spikeflow.quant.ternary import TernaryLinearInt, pack_ternary, ternary_matmul_int, unpack_ternary


def _layer(n_in: int = 37, n_out: int = 11) -> BitLinear:
    torch.manual_seed(0)
    return BitLinear(n_in, n_out)


def test_matches_the_published_formula() -> None:
    layer = _layer()
    x = torch.randn(5, 37, dtype=torch.float64)
    layer = layer.double()
    x_hat = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-8)
    s = x_hat.abs().amax(-1, keepdim=True) / 127
    x_q = torch.round(torch.clamp(x_hat / s, -128, 127)) * s
    gamma = layer.weight.abs().mean()
    w_q = torch.round(torch.clamp(layer.weight / gamma, -1, 1)) * gamma
    torch.testing.assert_close(layer(x), x_q @ w_q.t(), rtol=1e-12, atol=1e-12)
    assert set(torch.unique(layer.quantized_weight() / gamma).round().tolist()) <= {-1.0, 0.0, 1.0}


def test_straight_through_gradients() -> None:
    layer = _layer().double()
    x = torch.randn(2, 4, 37, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 4, 11, dtype=torch.float64)
    (layer(x) * g).sum().backward()
    # the same gradients as y = x_q W_q^T with straight-through quantizers written in torch
    from spikeflow.layers.bitlinear import quantize_activations

    x2 = x.detach().clone().requires_grad_()
    w2 = layer.weight.detach().clone().requires_grad_()
    (torch.nn.functional.linear(quantize_activations(layer.norm(x2)), layer.quantizer(w2)) * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.weight.grad, w2.grad, rtol=1e-10, atol=1e-12)


def test_packing_round_trip_and_size() -> None:
    codes = torch.randint(-1, 2, (9, 37), generator=torch.Generator().manual_seed(0))
    packed = pack_ternary(codes)
    assert packed.dtype == torch.uint8 and packed.shape == (9, 10)
    assert torch.equal(unpack_ternary(packed, 37), codes.to(torch.int8))
    with pytest.raises(ValueError, match="-1, 0, 1"):
        pack_ternary(torch.tensor([[2, 0]]))


def test_integer_kernel_is_exact() -> None:
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(-1, 2, (13, 50), generator=g)
    x = torch.randint(-128, 128, (6, 50), generator=g, dtype=torch.int64)
    y = ternary_matmul_int(x.to(torch.int8), pack_ternary(codes), 50)
    assert y.dtype == torch.int32
    assert torch.equal(y.long(), x @ codes.t())


def test_integer_layer_equals_float_layer() -> None:
    layer = _layer(64, 24)
    x = torch.randn(3, 7, 64)
    int_layer = TernaryLinearInt.from_bitlinear(layer)
    with torch.no_grad():
        assert torch.equal(int_layer(x), layer(x))
    assert int_layer.weight_bytes() * 16 == layer.weight.numel() * 4
    # float64: the integer sum scaled once equals the float product of the same codes exactly
    codes, scale = activation_codes(layer.norm(x.double().reshape(-1, 64)).detach())
    iw = layer.quantizer.integer(layer.weight.double())
    exact = (codes @ iw.codes.double().t()) * scale * iw.scale
    y_int = ternary_matmul_int(codes.to(torch.int8), pack_ternary(iw.codes), 64)
    assert torch.equal(y_int.double() * scale * iw.scale, exact)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="in_features"):
        BitLinear(0, 3)
    with pytest.raises(ValueError, match="last dim"):
        _layer()(torch.randn(2, 5))
    with pytest.raises(ValueError, match="x_codes"):
        ternary_matmul_int(torch.zeros(2, 5), pack_ternary(torch.zeros(3, 5)), 5)
    with pytest.raises(ValueError, match="features"):
        RMSNorm(0)

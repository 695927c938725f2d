"""Weight quantizers: grids, scales, integer codes, straight-through gradients, bad input."""

from __future__ import annotations

import pytest
import torch

from spikeflow.quant import (
    BinaryQuantizer,
    MinifloatQuantizer,
    TernaryQuantizer,
    UniformQuantizer,
    weight_quantizer,
)


def _w(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_symmetric_narrow_range_4bit() -> None:
    w = _w(6, 9)
    q = UniformQuantizer(4)
    iw = q.integer(w)
    assert int(iw.codes.min()) >= -7 and int(iw.codes.max()) <= 7
    assert torch.isclose(iw.scale, w.abs().max() / 7)
    # the largest weight lands exactly on the top code; every value is within half a step
    assert int(iw.codes.flatten()[w.abs().argmax()].abs()) == 7
    assert (q(w) - w).abs().max() <= iw.scale / 2 + 1e-12
    assert torch.equal(q(w), iw.codes.double() * iw.scale)


def test_full_range_codes_stay_in_int4() -> None:
    w = _w(200)
    iw = UniformQuantizer(4, narrow_range=False).integer(w)
    assert int(iw.codes.min()) >= -8 and int(iw.codes.max()) <= 7
    assert torch.equal(iw.codes, UniformQuantizer(4).integer(w).codes)  # scale from max|w|: -8 is never needed


def test_per_channel_scales() -> None:
    w = _w(4, 5) * torch.tensor([[1.0], [10.0], [0.1], [3.0]], dtype=torch.float64)
    iw = UniformQuantizer(8, per_channel=True).integer(w)
    assert iw.scale.shape == (4, 1)
    assert torch.allclose(iw.scale.squeeze(1), w.abs().amax(1) / 127)
    assert (iw.codes.abs().amax(1) == 127).all()


def test_affine_keeps_zero_exact_and_codes_in_range() -> None:
    w = torch.rand(50, dtype=torch.float64) * 3 + 0.5  # all positive
    w[3] = 0.0
    q = UniformQuantizer(4, symmetric=False)
    iw = q.integer(w)
    assert int(iw.codes.min()) >= 0 and int(iw.codes.max()) <= 15
    assert q(w)[3] == 0.0
    assert (q(w) - w).abs().max() <= iw.scale / 2 + 1e-12


def test_ternary_absmean() -> None:
    w = _w(8, 8)
    iw = TernaryQuantizer().integer(w)
    gamma = w.abs().mean()
    assert torch.isclose(iw.scale, gamma)
    assert set(iw.codes.unique().tolist()) <= {-1, 0, 1}
    assert torch.equal(iw.codes, torch.round(torch.clamp(w / gamma, -1, 1)).int())
    assert weight_quantizer(2) == TernaryQuantizer()


def test_binary_sign_and_mean_scale() -> None:
    w = torch.tensor([[-2.0, 0.0, 1.0, 3.0]])
    iw = BinaryQuantizer().integer(w)
    assert iw.codes.tolist() == [[-1, 1, 1, 1]]
    assert float(iw.scale) == pytest.approx(1.5)
    assert BinaryQuantizer()(w).tolist() == [[-1.5, 1.5, 1.5, 1.5]]


def test_fp4_e2m1_grid_and_rounding() -> None:
    q = MinifloatQuantizer(2, 1)
    assert q.grid().tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    w = torch.tensor([6.0, -2.4, 0.74, 0.76, 5.1, -0.2])  # max 6 -> scale 1
    assert q(w).tolist() == [6.0, -2.0, 0.5, 1.0, 6.0, 0.0]
    assert weight_quantizer(4, "fp4") == q


def test_fp8_e4m3_max_448() -> None:
    q = MinifloatQuantizer(4, 3)
    grid = q.grid()
    assert float(grid[-1]) == 448.0 and float(grid[1]) == 2.0**-9
    w = _w(100) * 10
    err = (q(w) - w).abs() / w.abs().clamp_min(1e-3)
    assert float(err.max()) < 2**-4 + 1e-9  # 3 mantissa bits: relative error <= 1/16 for normals


def test_straight_through_gradient_is_identity() -> None:
    for q in (UniformQuantizer(3), UniformQuantizer(4, symmetric=False), TernaryQuantizer(), BinaryQuantizer(),
              MinifloatQuantizer(2, 1)):
        w = _w(3, 4).requires_grad_()
        g = torch.randn(3, 4, dtype=torch.float64)
        (q(w) * g).sum().backward()
        assert torch.equal(w.grad, g), q


@pytest.mark.parametrize(("call", "match"), [
    (lambda: UniformQuantizer(1), "bits"),
    (lambda: UniformQuantizer(4, symmetric="yes"), "symmetric"),
    (lambda: UniformQuantizer(4)(torch.tensor([1, 2])), "floating-point"),
    (lambda: UniformQuantizer(4)(torch.tensor([1.0, float("nan")])), "finite"),
    (lambda: weight_quantizer(4, "fp5"), "scheme"),
    (lambda: weight_quantizer(3, "fp4"), "fp4"),
    (lambda: MinifloatQuantizer(0, 3), "exponent_bits"),
])
def test_bad_input(call, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        call()

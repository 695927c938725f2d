"""L1RateSparsity and FiringRateBounds."""

import pytest
import torch

from spikeflow import losses as L


def _layer(rates, steps=4, batch=2):
    """Spikes [T, B, N] whose neuron j fires in exactly rates[j] * T * B of the T * B slots."""
    n = len(rates)
    s = torch.zeros(steps * batch, n)
    for j, r in enumerate(rates):
        s[: round(r * steps * batch), j] = 1.0
    return s.view(steps, batch, n)


def test_l1_rate_sparsity_hand_value_and_inputs():
    a, b = _layer([0.25, 0.5]), _layer([1.0, 0.0, 0.5])
    reg = L.L1RateSparsity(0.1)
    want = 0.1 * ((0.25 + 0.5) / 2 + (1.0 + 0.0 + 0.5) / 3)
    assert reg(a, b).item() == pytest.approx(want)
    assert reg([a, b]).item() == pytest.approx(want)
    assert L.L1RateSparsity(0.1, reduction="sum")(a).item() == pytest.approx(0.1 * 0.75)


def test_l1_gradient_lowers_every_rate():
    s = _layer([0.5, 0.25]).requires_grad_()
    L.L1RateSparsity(1.0)(s).backward()
    assert (s.grad > 0).all()


def test_bounds_zero_inside_with_zero_gradient():
    s = _layer([0.25, 0.5, 0.75]).requires_grad_()
    loss = L.FiringRateBounds(lower=0.25, upper=0.75)(s)
    loss.backward()
    assert loss.item() == 0.0 and s.grad.abs().sum() == 0


def test_bounds_positive_outside_hand_value():
    s = _layer([0.0, 0.5, 1.0])
    reg = L.FiringRateBounds(lower=0.25, upper=0.75, weight=2.0)
    want = 2.0 * ((0.25 - 0.0) ** 2 + 0 + (1.0 - 0.75) ** 2) / 3
    assert reg(s).item() == pytest.approx(want)
    assert L.FiringRateBounds(lower=0.25)(s).item() == pytest.approx(0.25**2 / 3)
    assert L.FiringRateBounds(upper=0.75)(s).item() == pytest.approx(0.25**2 / 3)


def test_bounds_gradient_pushes_rates_back_inside():
    s = _layer([0.0, 1.0]).requires_grad_()
    L.FiringRateBounds(lower=0.25, upper=0.75)(s).backward()
    assert (s.grad[..., 0] < 0).all() and (s.grad[..., 1] > 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_regularizers_keep_dtype_on_conv_shapes(dtype):
    s = torch.ones(3, 2, 4, 5, 5, dtype=dtype)
    assert L.L1RateSparsity(1.0)(s).dtype == dtype
    assert L.FiringRateBounds(upper=0.5)(s).item() == pytest.approx(0.25)


def test_regularizer_bad_arguments():
    with pytest.raises(ValueError, match="lower, upper"):
        L.FiringRateBounds()
    with pytest.raises(ValueError, match="lower <= upper"):
        L.FiringRateBounds(lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="weight"):
        L.L1RateSparsity(-1.0)
    with pytest.raises(ValueError, match=r"spikes\[0\]"):
        L.L1RateSparsity(1.0)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="at least one"):
        L.L1RateSparsity(1.0)([])

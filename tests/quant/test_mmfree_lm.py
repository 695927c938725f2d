"""The chunked parallel scan and the MatMul-free language model."""

from __future__ import annotations

import pytest
import torch

from spikeflow.layers.scan import linear_recurrence, linear_recurrence_loop
from spikeflow.models.mmfree_lm import MatMulFreeLM


@pytest.mark.parametrize("chunk", [1, 3, 8, 64])
def test_scan_equals_loop(chunk: int) -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.rand(29, 3, 4, generator=g, dtype=torch.float64)
    x = torch.randn(29, 3, 4, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(linear_recurrence(f, x, h0, chunk), linear_recurrence_loop(f, x, h0),
                               rtol=1e-12, atol=1e-12)
    f[5] = 0.0  # a gate that closes completely: no overflow, no NaN
    assert torch.isfinite(linear_recurrence(f, x, None, chunk)).all()


def test_scan_gradcheck() -> None:
    g = torch.Generator().manual_seed(1)
    f = torch.rand(9, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
    x = torch.randn(9, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: linear_recurrence(a, b, c, chunk=4), (f, x, h0))


def test_step_equals_sequence_and_shapes() -> None:
    torch.manual_seed(0)
    model = MatMulFreeLM(17, d=16, layers=2, chunk=4).double()
    ids = torch.randint(0, 17, (11, 3))
    logits, state = model(ids)
    assert logits.shape == (11, 3, 17) and len(state) == 2
    st = None
    for t in range(11):
        step_logits, st = model.step(ids[t], st)
    torch.testing.assert_close(step_logits, logits[-1], rtol=1e-9, atol=1e-9)
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_spiking_mixer_step_equals_sequence() -> None:
    # Per layer: with binary spikes and 8-bit codes, a 1e-16 scan-vs-loop difference can flip a
    # rounding tie in a later layer, so the check is per mixer, where the paths agree to roundoff.
    torch.manual_seed(0)
    model = MatMulFreeLM(17, d=16, layers=1, spiking=True, chunk=4).double()
    mixer = model.blocks[0].mixer
    x = torch.randn(11, 3, 16, dtype=torch.float64)
    y, h = mixer(x)
    hs, ys = None, []
    for t in range(11):
        yt, hs = mixer.step(x[t], hs)
        ys.append(yt)
    torch.testing.assert_close(torch.stack(ys), y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(hs, h, rtol=1e-12, atol=1e-12)


def test_spiking_mixer_is_binary() -> None:
    torch.manual_seed(0)
    model = MatMulFreeLM(7, d=8, layers=1, spiking=True)
    mixer = model.blocks[0].mixer
    _, c, _ = mixer._gates(torch.randn(5, 2, 8))
    assert set(c.unique().tolist()) <= {0.0, 1.0}


def test_generate_is_seeded() -> None:
    torch.manual_seed(0)
    model = MatMulFreeLM(9, d=8, layers=1)
    a = model.generate(torch.tensor([1, 2]), 12, 1.0, torch.Generator().manual_seed(3))
    b = model.generate(torch.tensor([1, 2]), 12, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (12,) and int(a.max()) < 9


def test_bad_ids() -> None:
    model = MatMulFreeLM(9, d=8, layers=1)
    with pytest.raises(TypeError, match="ids"):
        model(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"\[0, 9\)"):
        model(torch.full((3, 2), 9))
    with pytest.raises(ValueError, match="T, B"):
        model(torch.zeros(3, dtype=torch.long))

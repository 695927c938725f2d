"""Neuron-state quantization: levels, snapping, neurons with quantized state, snnTorch parity."""

from __future__ import annotations

import pytest
import torch

import spikeflow as sf
from spikeflow.quant import StateQuantizer


def test_uniform_levels_span_the_range() -> None:
    q = StateQuantizer(3, threshold=2.0, lower_limit=0.5, upper_limit=0.2)
    levels = q.levels()
    assert len(levels) == 8
    assert torch.allclose(levels, torch.linspace(-3.0, 2.4, 8, dtype=torch.float64))


def test_nonuniform_levels_cluster_at_threshold() -> None:
    q = StateQuantizer(4, threshold=1.0, uniform=False, ratio=0.8)
    levels = q.levels()
    assert len(levels) == 16 and 1.0 in levels.tolist()
    assert float(levels[0]) == pytest.approx(-1.0) and float(levels[-1]) == pytest.approx(1.2)
    gaps = levels.diff()
    at = levels.tolist().index(1.0)
    below, above = gaps[:at].flip(0), gaps[at:]
    assert (below.diff() > 0).all() and (above.diff() > 0).all()  # gaps grow away from the threshold


def test_snap_to_nearest_level_with_identity_gradient() -> None:
    q = StateQuantizer(2, threshold=1.0, upper_limit=0.0)  # levels -1, -1/3, 1/3, 1
    v = torch.tensor([-5.0, -0.5, 0.1, 0.4, 0.9, 3.0], requires_grad=True)
    out = q(v)
    assert out.tolist() == pytest.approx([-1.0, -1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    out.sum().backward()
    assert v.grad.tolist() == [1.0] * 6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_snap_is_exactly_the_nearest_level(dtype: torch.dtype) -> None:
    """The closed-form bracket equals a search over all levels, bit for bit: on the levels, their neighbouring
    floats, the midpoints (ties go to the lower level, as snnTorch's argmin) and values far outside the range."""
    g = torch.Generator().manual_seed(0)
    for bits, thr, lower, upper in ((1, 1.0, 0.0, 0.2), (3, 2.915, 0.5, 0.0), (8, 1.0, 0.0, 1.0), (8, 0.427, 1.0, 3.0)):
        q = StateQuantizer(bits, thr, lower, upper)
        levels = q.levels(dtype)
        mids = (levels[1:] + levels[:-1]) / 2
        v = torch.cat([torch.randn(4000, generator=g, dtype=dtype) * 3 * thr, levels, mids,
                       *(t.nextafter(t + s) for t in (levels, mids) for s in (1, -1))])
        nearest = levels[(v.unsqueeze(-1) - levels).abs().argmin(-1)]  # the first of equally near levels
        assert torch.equal(q(v.requires_grad_()).detach(), nearest), (bits, thr, lower, upper)


def test_neuron_states_on_levels_after_every_step() -> None:
    lif = sf.Leaky(beta=0.9)
    q = StateQuantizer(4, threshold=1.0)
    lif.state_quant = q
    x = torch.rand(12, 3, 5, generator=torch.Generator().manual_seed(0))
    _, trace = lif(x, record=True)
    levels = q.levels(torch.float32)
    dist = (trace.v.unsqueeze(-1) - levels).abs().amin(-1)
    assert float(dist.max()) == 0.0
    # the step API rounds the same way
    out_step, st = [], None
    for t in range(x.shape[0]):
        o, st = lif.step(x[t], st)
        out_step.append(o)
    assert torch.equal(torch.stack(out_step), lif(x)[0])


def test_fused_backend_refuses_state_quantization() -> None:
    lif = sf.Leaky(beta=0.9, backend="cpu")
    lif.state_quant = StateQuantizer(4)
    with pytest.raises(ValueError, match="state quantization"):
        lif(torch.rand(3, 2, 4))


def test_same_numbers_as_snntorch_state_quant() -> None:
    snn = pytest.importorskip("snntorch")
    from snntorch.functional import quant

    torch.manual_seed(0)
    x = torch.rand(20, 4, 6) * 0.6
    ref = snn.Leaky(beta=0.8, threshold=1.0, state_quant=quant.state_quant(num_bits=4, uniform=True, threshold=1.0))
    mem = ref.init_leaky()
    spikes, mems = [], []
    for t in range(x.shape[0]):
        s, mem = ref(x[t], mem)
        spikes.append(s)
        mems.append(mem)
    ours = sf.Leaky(beta=0.8, threshold=1.0)
    ours.state_quant = StateQuantizer(4, threshold=1.0)
    out, trace = ours(x, record=True)
    assert torch.equal(out, torch.stack(spikes))
    torch.testing.assert_close(trace.v, torch.stack(mems), rtol=0, atol=1e-6)


def test_bad_state_quantizer() -> None:
    with pytest.raises(ValueError, match="bits"):
        StateQuantizer(0)
    with pytest.raises(ValueError, match="threshold"):
        StateQuantizer(4, threshold=-1.0)
    with pytest.raises(TypeError, match="uniform"):
        StateQuantizer(4, uniform="no")

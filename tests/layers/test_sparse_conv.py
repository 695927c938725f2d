"""Event-driven Conv2d: same values and gradients as nn.Conv2d, event path chosen when sparse."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

pytest.importorskip("numba")

import spikeflow as sf  # noqa: E402
from spikeflow.layers.sparse_conv import EventConv2d, event_conv2d  # noqa: E402

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}

# (kernel_size, stride, padding, dilation, (H, W)): odd shapes, strides that skip inputs, "same"/"valid"
GEOMETRIES = [
    (3, 1, 1, 1, (8, 8)),
    (3, 1, 0, 1, (7, 9)),
    ((3, 2), (2, 3), (1, 2), (2, 1), (9, 11)),
    (1, 2, 0, 1, (5, 6)),
    (5, 2, 2, 1, (6, 5)),
    ((2, 4), 1, (0, 3), (1, 2), (4, 9)),
    (4, 1, "same", 1, (7, 6)),  # asymmetric 'same' padding (total 3 -> 1 before, 2 after)
    (3, 1, "same", 2, (6, 7)),
    (3, 3, "valid", 1, (10, 8)),
    (2, 2, 0, 1, (2, 2)),  # output 1x1
]


def _pair(*args, bias: bool = True, dtype: torch.dtype = torch.float32, **kw) -> tuple[EventConv2d, nn.Conv2d]:
    torch.manual_seed(0)
    ev = EventConv2d(*args, bias=bias, dtype=dtype, **kw)
    dense = nn.Conv2d(*args, bias=bias, dtype=dtype)
    dense.load_state_dict(ev.state_dict())
    return ev, dense


def _spikes(shape: tuple[int, ...], p: float, dtype: torch.dtype, seed: int = 1) -> Tensor:
    """Graded spikes: non-zero with probability p, values in [1, 2)."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=gen, dtype=dtype) < p
    return (mask * (1 + torch.rand(shape, generator=gen, dtype=dtype))).requires_grad_()


def _values_and_grads(m: nn.Module, x: Tensor, seed: int = 2) -> tuple[Tensor, tuple[Tensor, ...]]:
    y = m(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return y, torch.autograd.grad(y, [x, *m.parameters()], g)


def _assert_same(ev: nn.Module, dense: nn.Module, x: Tensor) -> None:
    (y1, g1), (y2, g2) = _values_and_grads(ev, x), _values_and_grads(dense, x)
    tol = TOL[x.dtype]
    torch.testing.assert_close(y1, y2, **tol)
    assert len(g1) == len(g2)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_event_values_and_grads_match_conv2d(geom: tuple, dtype: torch.dtype) -> None:
    k, s, p, d, hw = geom
    ev, dense = _pair(3, 4, k, s, p, d, dtype=dtype, mode="event")
    x = _spikes((5, 3, *hw), 0.2, dtype)
    _assert_same(ev, dense, x)
    assert ev.last_path == "event"


@pytest.mark.parametrize("p", [0.0, 0.05, 1.0])
def test_density_extremes_and_no_bias(p: float) -> None:
    ev, dense = _pair(4, 6, 3, 2, 1, bias=False, dtype=torch.float64, mode="event")
    x = _spikes((6, 4, 9, 8), p, torch.float64, seed=3)
    _assert_same(ev, dense, x)


def test_all_zero_input_gives_bias_and_zero_weight_grad() -> None:
    ev, dense = _pair(3, 5, 3, 1, 1, mode="event")
    x = torch.zeros(2, 3, 6, 6, requires_grad=True)
    y, (gx, gw, gb) = _values_and_grads(ev, x)
    assert torch.equal(y, ev.bias.detach()[None, :, None, None].expand(2, 5, 6, 6))
    assert torch.count_nonzero(gw) == 0
    _assert_same(ev, dense, x)


def test_event_path_never_reads_weights_of_silent_channels() -> None:
    ev, dense = _pair(3, 4, 3, 1, 1, mode="event")
    x = _spikes((4, 3, 6, 6), 0.3, torch.float32).detach()
    x[:, 1] = 0.0  # input channel 1 never fires
    with torch.no_grad():
        dense.weight[:, 1] = 0.0
        ev.weight[:, 1] = float("nan")  # the dense product would spread these NaNs everywhere
    y = ev(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, dense(x), **TOL[torch.float32])
    gw = torch.autograd.grad(y.sum(), ev.weight)[0]
    assert torch.isfinite(gw).all() and torch.count_nonzero(gw[:, 1]) == 0
    torch.testing.assert_close(gw, torch.autograd.grad(dense(x).sum(), dense.weight)[0], **TOL[torch.float32])


def test_batch_one_and_unbatched() -> None:
    ev, dense = _pair(2, 3, 3, 1, 1, mode="event")
    x1 = _spikes((1, 2, 5, 7), 0.3, torch.float32)
    _assert_same(ev, dense, x1)
    x0 = _spikes((2, 5, 7), 0.3, torch.float32)
    y0 = ev(x0)
    assert y0.shape == (3, 5, 7)
    _assert_same(ev, dense, x0)


def test_float64_gradcheck() -> None:
    gen = torch.Generator().manual_seed(4)
    x = ((torch.rand(2, 2, 5, 4, generator=gen) < 0.4).double() * 0.7).requires_grad_()
    w = torch.randn(3, 2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    # a perturbed zero input becomes an event, so the numerical Jacobian in x is valid too
    assert torch.autograd.gradcheck(lambda x, w, b: event_conv2d(x, w, b, (2, 1), (1, 0), (1, 2)), (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: event_conv2d(x, w, None, 1, "same", 1), (x, w))


def test_auto_mode_follows_density() -> None:
    ev, dense = _pair(8, 4, 3, 1, 1, density_threshold=0.1)
    sparse = torch.zeros(3, 8, 6, 6)
    sparse[:, 0, :2, :2] = 1.0  # 12 / 864 non-zero
    y = ev(sparse)
    assert ev.last_path == "event" and (ev.event_calls, ev.dense_calls) == (1, 0)
    torch.testing.assert_close(y, dense(sparse), **TOL[torch.float32])
    ev(torch.ones(3, 8, 6, 6))
    assert ev.last_path == "dense" and (ev.event_calls, ev.dense_calls) == (1, 1)


def test_auto_mode_falls_back_to_dense_for_other_dtypes() -> None:
    ev, dense = _pair(2, 3, 3, 1, 1)
    ev, dense = ev.to(torch.bfloat16), dense.to(torch.bfloat16)
    x = torch.zeros(1, 2, 4, 4, dtype=torch.bfloat16)
    x[0, 0, 1, 1] = 1
    assert torch.equal(ev(x), dense(x))
    assert ev.last_path == "dense"
    forced = EventConv2d(2, 3, 3, mode="dense")
    forced(torch.zeros(1, 2, 4, 4))
    assert forced.last_path == "dense"


def test_results_do_not_depend_on_numba_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here: the parallel path cannot run")
    ev, _ = _pair(4, 40, 3, 1, 1, mode="event")  # 40 output channels: 2 weight-gradient blocks at 2 threads
    x = _spikes((4, 4, 6, 6), 0.3, torch.float32)
    runs = []
    for n in ("1", "2"):
        monkeypatch.setenv("SPIKEFLOW_NUMBA_THREADS", n)
        y, grads = _values_and_grads(ev, x)
        runs.append((y, grads))
    monkeypatch.setenv("SPIKEFLOW_NUMBA_THREADS", "1")
    assert torch.equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        assert torch.equal(a, b)


def test_inside_sequential_on_time_folded_batch() -> None:
    torch.manual_seed(5)
    conv = EventConv2d(2, 4, 3, padding=1, mode="event")
    ref = nn.Conv2d(2, 4, 3, padding=1)
    ref.load_state_dict(conv.state_dict())
    readout = nn.Linear(100, 3)
    x = _spikes((6, 3, 2, 5, 5), 0.1, torch.float32)  # [T, B, C, H, W]
    outs = []
    for c in (conv, ref):
        net = sf.Sequential(c, sf.Leaky(beta=0.8, threshold=0.3, backend="reference"), nn.Flatten(), readout)
        out, _ = net(x)
        assert out.shape == (6, 3, 3)
        g = torch.autograd.grad(out.square().sum(), [x, c.weight, c.bias])
        outs.append((out, g))
    assert conv.event_calls == 1  # one call on the folded [T * B, C, H, W] batch
    torch.testing.assert_close(outs[0][0], outs[1][0], **TOL[torch.float32])
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float32])


def test_state_dict_interchangeable_with_conv2d() -> None:
    dense = nn.Conv2d(3, 2, (3, 1), stride=2, padding=(1, 0))
    ev = EventConv2d(3, 2, (3, 1), stride=2, padding=(1, 0))
    ev.load_state_dict(dense.state_dict())
    x = _spikes((2, 3, 7, 5), 0.1, torch.float32)
    torch.testing.assert_close(ev(x), dense(x), **TOL[torch.float32])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="groups"):
        EventConv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        EventConv2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        EventConv2d(2, 2, 3, mode="fast")
    with pytest.raises(ValueError, match="density_threshold"):
        EventConv2d(2, 2, 3, density_threshold=1.5)
    layer = EventConv2d(2, 2, 3, mode="event")
    with pytest.raises(TypeError, match="x"):
        layer([[1.0]])
    with pytest.raises(ValueError, match="in_channels"):
        layer(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="x"):
        layer(torch.zeros(2, 2, 2, 2))  # smaller than the kernel
    with pytest.raises(TypeError, match="x"):
        event_conv2d(torch.zeros(1, 2, 5, 5, dtype=torch.int64), torch.zeros(2, 2, 3, 3))
    with pytest.raises(TypeError, match="weight"):
        event_conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="padding"):
        event_conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3), padding="full")
    with pytest.raises(ValueError, match="stride"):
        event_conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3), stride=0)


def test_nir_export_sees_a_plain_conv2d() -> None:
    pytest.importorskip("nir")
    from spikeflow.interop.export import to_nir

    conv = EventConv2d(2, 4, 3, stride=(1, 2), padding=1)
    graph = to_nir(sf.Sequential(conv, sf.Leaky(beta=0.9, backend="reference")), (2, 5, 6))
    (node,) = [n for n in graph.nodes.values() if type(n).__name__ == "Conv2d"]
    assert (node.weight == conv.weight.detach().numpy()).all()
    assert (node.bias == conv.bias.detach().numpy()).all()
    assert list(node.stride) == [1, 2] and list(node.padding) == [1, 1]

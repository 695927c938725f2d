"""Surrogate gradients: Heaviside forward, documented analytic backward, no NaN/inf, picklable."""

from __future__ import annotations

import copy
import io
import math
import pickle
from typing import Callable

import pytest
import torch
from torch import Tensor

import spikeflow as sf
from spikeflow import surrogate as sg

# Each analytic derivative is written out here independently of spikeflow/surrogate.py,
# straight from the formula in the class docstring (float64 math on the test side).
FORMULAS: list[tuple[sg.Surrogate, Callable[[Tensor], Tensor]]] = [
    (sg.ATan(), lambda x: (2.0 / 2) / (1 + (math.pi / 2 * 2.0 * x) ** 2)),
    (sg.ATan(alpha=5.0), lambda x: (5.0 / 2) / (1 + (math.pi / 2 * 5.0 * x) ** 2)),
    (sg.FastSigmoid(), lambda x: 1 / (25.0 * x.abs() + 1) ** 2),
    (sg.FastSigmoid(slope=3.0), lambda x: 1 / (3.0 * x.abs() + 1) ** 2),
    (sg.Sigmoid(), lambda x: 25.0 * torch.exp(-25.0 * x) / (torch.exp(-25.0 * x) + 1) ** 2),
    (sg.Sigmoid(slope=4.0), lambda x: 4.0 * torch.exp(-4.0 * x) / (torch.exp(-4.0 * x) + 1) ** 2),
    (sg.Triangular(), lambda x: torch.where(x.abs() < 1.0, 1 - x.abs(), torch.zeros_like(x))),
    (sg.Triangular(width=0.5), lambda x: torch.where(x.abs() < 0.5, (1 - x.abs() / 0.5) / 0.5, torch.zeros_like(x))),
    (sg.StraightThrough(), lambda x: torch.ones_like(x)),
    (sg.Heaviside(), lambda x: (x > 0).to(x.dtype)),
    (sg.SpikeRateEscape(), lambda x: 25.0 * torch.exp(-1.0 * (x - 1).abs())),
    (sg.SpikeRateEscape(beta=2.0, slope=3.0), lambda x: 3.0 * torch.exp(-2.0 * (x - 1).abs())),
    (sg.LeakySpikeOperator(), lambda x: torch.where(x > 0, 1.0, 0.1).to(x.dtype)),
    (sg.LeakySpikeOperator(slope=0.3), lambda x: torch.where(x > 0, 1.0, 0.3).to(x.dtype)),
    (sg.SparseFastSigmoid(), lambda x: torch.where(x > 1.0, 1 / (25.0 * x.abs() + 1) ** 2, torch.zeros_like(x))),
    (
        sg.SparseFastSigmoid(slope=2.0, B=-0.5),
        lambda x: torch.where(x > -0.5, 1 / (2.0 * x.abs() + 1) ** 2, torch.zeros_like(x)),
    ),
]

# Deterministic families that must stay finite over the whole float range we care about.
FINITE = [
    sg.ATan(),
    sg.FastSigmoid(),
    sg.Sigmoid(),
    sg.Sigmoid(slope=100.0),
    sg.Triangular(),
    sg.SpikeRateEscape(),
    sg.SparseFastSigmoid(),
    sg.LeakySpikeOperator(),
    sg.StochasticSpikeOperator(),
    sg.StraightThrough(),
    sg.Heaviside(),
]

ALL_CLASSES = [
    sg.ATan(alpha=3.0),
    sg.FastSigmoid(slope=7.0),
    sg.Sigmoid(slope=2.0),
    sg.Triangular(width=2.0),
    sg.StraightThrough(),
    sg.Heaviside(),
    sg.SpikeRateEscape(beta=0.5, slope=2.0),
    sg.StochasticSpikeOperator(mean=0.1, variance=0.3),
    sg.LeakySpikeOperator(slope=0.2),
    sg.SparseFastSigmoid(slope=5.0, B=0.25),
]


def _id(v: object) -> str:
    """Stable test id (a Custom's repr would contain a memory address)."""
    if isinstance(v, sg.Custom):
        return f"Custom({v.fn.__name__})"
    return repr(v) if isinstance(v, sg.Surrogate) else ""


def double_derivative(x: Tensor, spike: Tensor) -> Tensor:
    """A module-level (hence picklable) custom derivative: 2 everywhere."""
    return 2.0 * torch.ones_like(x)


def wrong_shape_derivative(x: Tensor, spike: Tensor) -> Tensor:
    return torch.ones(3)


def _grid(dtype: torch.dtype) -> Tensor:
    """Points around zero and the kinks (0, +-1, +-B), avoiding exact ties."""
    x = torch.linspace(-3, 3, 601, dtype=torch.float64) + 1e-4
    return torch.cat([x, torch.tensor([-1e-3, 1e-3, 0.4999, 0.5001, 1.0001, 0.9999], dtype=torch.float64)]).to(dtype)


def _autograd_grad(s: sg.Surrogate, x: Tensor, upstream: Tensor | None = None) -> Tensor:
    x = x.clone().requires_grad_(True)
    out = s(x)
    (out if upstream is None else out * upstream).sum().backward()
    assert x.grad is not None
    return x.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("s, formula", FORMULAS, ids=_id)
def test_backward_matches_analytic_formula(
    s: sg.Surrogate, formula: Callable[[Tensor], Tensor], dtype: torch.dtype
) -> None:
    x = _grid(dtype)
    expected = formula(x.double()).to(dtype)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(_autograd_grad(s, x), expected, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("s", ALL_CLASSES, ids=_id)
def test_backward_scales_upstream_gradient(s: sg.Surrogate) -> None:
    """Chain rule: d(sum(w * S(x)))/dx = w * dS/dx for any upstream weights w."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, generator=gen, dtype=torch.float64)
    w = torch.randn(64, generator=gen, dtype=torch.float64)
    torch.manual_seed(7)
    plain = _autograd_grad(s, x)
    torch.manual_seed(7)
    weighted = _autograd_grad(s, x, w)
    torch.testing.assert_close(weighted, w * plain)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("s", ALL_CLASSES + [sg.Custom(double_derivative)], ids=_id)
def test_forward_is_exactly_heaviside(s: sg.Surrogate, dtype: torch.dtype) -> None:
    x = torch.tensor([-1e4, -1.0, -1e-30, 0.0, -0.0, 1e-30, 1e-7, 1.0, 1e4], dtype=dtype)
    out = s(x)
    assert out.dtype == dtype
    assert torch.equal(out, (x > 0).to(dtype))
    assert out[3] == 0 and out[4] == 0, "x = 0 must not spike (strict comparison v > threshold)"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("s", FINITE, ids=_id)
def test_gradient_finite_for_large_inputs(s: sg.Surrogate, dtype: torch.dtype) -> None:
    x = torch.cat([torch.linspace(-1e4, 1e4, 4001, dtype=dtype), torch.tensor([0.0, 1e-30, -1e-30], dtype=dtype)])
    grad = _autograd_grad(s, x)
    assert torch.isfinite(grad).all(), f"{s!r} gives non-finite gradient at {x[~torch.isfinite(grad)][:5]}"
    assert grad.dtype == dtype


def test_sigmoid_large_negative_is_zero_not_nan() -> None:
    """snnTorch's sigmoid gives inf/inf = NaN at x = -1e4; ours must give a true ~0."""
    grad = _autograd_grad(sg.Sigmoid(), torch.tensor([-1e4, -50.0, 1e4]))
    assert torch.equal(grad, torch.zeros(3))


def test_stochastic_spike_operator_noise_range_and_seed() -> None:
    s = sg.StochasticSpikeOperator(mean=0.1, variance=0.4)
    x = torch.linspace(-2, 2, 400, dtype=torch.float64) + 1e-3
    torch.manual_seed(3)
    g1 = _autograd_grad(s, x)
    torch.manual_seed(3)
    g2 = _autograd_grad(s, x)
    assert torch.equal(g1, g2), "same torch seed, same noise"
    spiking = x > 0
    assert torch.equal(g1[spiking], torch.ones_like(g1[spiking]))
    quiet = g1[~spiking]
    lo, hi = (-0.5 + 0.1) * 0.4, (0.5 + 0.1) * 0.4
    assert (quiet >= lo).all() and (quiet < hi).all()
    assert quiet.std() > 0.05, "sub-threshold gradient must be noise, not a constant"


def test_custom_surrogate_uses_fn() -> None:
    s = sg.Custom(double_derivative)
    x = torch.randn(10, dtype=torch.float64)
    assert torch.equal(_autograd_grad(s, x), torch.full_like(x, 2.0))


def test_custom_surrogate_rejects_bad_fn() -> None:
    with pytest.raises(TypeError, match="fn"):
        sg.Custom(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Custom surrogate fn.*\(4,\)"):
        _autograd_grad(sg.Custom(wrong_shape_derivative), torch.randn(4))


@pytest.mark.parametrize(
    "factory, name",
    [
        (lambda: sg.ATan(alpha=0.0), "alpha"),
        (lambda: sg.ATan(alpha=float("nan")), "alpha"),
        (lambda: sg.FastSigmoid(slope=-1.0), "slope"),
        (lambda: sg.Sigmoid(slope=float("inf")), "slope"),
        (lambda: sg.Triangular(width=0.0), "width"),
        (lambda: sg.SpikeRateEscape(beta=-2.0), "beta"),
        (lambda: sg.StochasticSpikeOperator(variance=0.0), "variance"),
        (lambda: sg.LeakySpikeOperator(slope=-0.1), "slope"),
    ],
)
def test_invalid_surrogate_parameters_raise(factory: Callable[[], sg.Surrogate], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        factory()


# --------------------------------------------------------------------------- lookup by name
@pytest.mark.parametrize(
    "name, cls",
    [
        ("atan", sg.ATan),
        ("ATan", sg.ATan),
        ("fast_sigmoid", sg.FastSigmoid),
        ("sigmoid", sg.Sigmoid),
        ("triangular", sg.Triangular),
        ("straight_through", sg.StraightThrough),
        ("heaviside", sg.Heaviside),
        ("spike_rate_escape", sg.SpikeRateEscape),
        ("sso", sg.StochasticSpikeOperator),
        ("lso", sg.LeakySpikeOperator),
        ("sfs", sg.SparseFastSigmoid),
    ],
)
def test_get_by_name(name: str, cls: type) -> None:
    got = sg.get(name)
    assert type(got) is cls
    assert got == cls()


def test_get_none_and_instance() -> None:
    assert sg.get(None) == sg.ATan(alpha=2.0)
    inst = sg.FastSigmoid(slope=3.0)
    assert sg.get(inst) is inst


def test_get_unknown_name_raises_naming_surrogate() -> None:
    with pytest.raises(ValueError, match=r"surrogate.*'not_a_surrogate'"):
        sg.get("not_a_surrogate")
    with pytest.raises(TypeError, match=r"surrogate.*int"):
        sg.get(3)  # type: ignore[arg-type]


def test_neuron_accepts_surrogate_name() -> None:
    lif = sf.Leaky(beta=0.9, surrogate="fast_sigmoid")
    assert lif.opts.surrogate == sg.FastSigmoid()


# --------------------------------------------------------------------------- pickling / saving
@pytest.mark.parametrize("s", ALL_CLASSES + [sg.Custom(double_derivative)], ids=_id)
def test_surrogate_pickle_round_trip(s: sg.Surrogate) -> None:
    back = pickle.loads(pickle.dumps(s))
    assert type(back) is type(s)
    assert back == s
    if not isinstance(s, sg.StochasticSpikeOperator):
        x = torch.randn(32, dtype=torch.float64)
        assert torch.equal(_autograd_grad(back, x), _autograd_grad(s, x))


def _run_leaky(lif: sf.Leaky, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    x = x.clone().requires_grad_(True)
    spikes, trace = lif(x, record=True)
    (spikes.sum() + trace.v.sum()).backward()
    assert x.grad is not None
    return spikes.detach(), trace.v.detach(), x.grad


@pytest.mark.parametrize("s", [v for v in ALL_CLASSES if not isinstance(v, sg.StochasticSpikeOperator)]
                         + [sg.Custom(double_derivative)], ids=_id)
def test_neuron_with_surrogate_deepcopies_and_pickles(s: sg.Surrogate) -> None:
    lif = sf.Leaky(beta=torch.tensor([0.8, 0.9, 0.95]), learn_beta=True, surrogate=s)
    x = torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(0)) * 1.5
    ref = _run_leaky(lif, x)
    for clone in (copy.deepcopy(lif), pickle.loads(pickle.dumps(lif))):
        assert clone.opts.surrogate == s
        for a, b in zip(ref, _run_leaky(clone, x), strict=True):
            assert torch.equal(a, b)


def test_state_dict_round_trip_through_safe_load() -> None:
    """A saved state_dict reloads with torch.load(weights_only=True) into a fresh module."""
    src = sf.Leaky(beta=torch.tensor([0.7, 0.8]), threshold=torch.tensor([1.0, 1.5]), learn_beta=True,
                   learn_threshold=True, surrogate=sg.FastSigmoid(slope=5.0))
    with torch.no_grad():
        src.beta.add_(0.05)
        src.threshold.sub_(0.2)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    buf.seek(0)
    dst = sf.Leaky(beta=torch.tensor([0.5, 0.5]), threshold=torch.tensor([1.0, 1.0]), learn_beta=True,
                   learn_threshold=True, surrogate=sg.FastSigmoid(slope=5.0))
    dst.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(5, 3, 2, generator=torch.Generator().manual_seed(1))
    for a, b in zip(_run_leaky(src, x), _run_leaky(dst, x), strict=True):
        assert torch.equal(a, b)

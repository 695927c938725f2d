"""Event-driven Linear: same values and gradients as nn.Linear, event path chosen when sparse."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("numba")

from spikeflow.layers.sparse import EventLinear, density, event_linear  # noqa: E402


def _pair(n_in: int, n_out: int, bias: bool, **kw) -> tuple[EventLinear, nn.Linear]:
    torch.manual_seed(0)
    ev = EventLinear(n_in, n_out, bias, **kw)
    dense = nn.Linear(n_in, n_out, bias)
    dense.load_state_dict(ev.state_dict())
    return ev, dense


@pytest.mark.parametrize("p", [0.0, 0.03, 0.2, 1.0])
@pytest.mark.parametrize("bias", [True, False])
def test_event_values_and_grads_match_linear(p: float, bias: bool) -> None:
    ev, dense = _pair(24, 10, bias, mode="event")
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(7, 3, 24, generator=gen) < p).float()
    x = (x * (1 + torch.rand(x.shape, generator=gen))).requires_grad_()  # graded spikes
    g = torch.randn(7, 3, 10, generator=gen)
    outs = []
    for m in (ev, dense):
        y = m(x)
        grads = torch.autograd.grad(y, [x, *m.parameters()], g)
        outs.append((y, grads))
    (y1, g1), (y2, g2) = outs
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_float64_gradcheck() -> None:
    gen = torch.Generator().manual_seed(2)
    x = ((torch.rand(4, 6, generator=gen) < 0.4).double() * 0.7).requires_grad_()
    w = torch.randn(3, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    # x is only perturbed where it is non-zero by the numerical Jacobian of w and b; check w, b
    assert torch.autograd.gradcheck(lambda w, b: event_linear(x.detach(), w, b), (w, b))


def test_auto_mode_follows_density() -> None:
    ev, _ = _pair(100, 5, True, density_threshold=0.1)
    sparse = torch.zeros(4, 100)
    sparse[:, :3] = 1.0
    ev(sparse)
    assert ev.last_path == "event"
    ev(torch.ones(4, 100))
    assert ev.last_path == "dense"
    assert density(sparse) == pytest.approx(0.03)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        EventLinear(3, 2, mode="fast")
    with pytest.raises(ValueError, match="density_threshold"):
        EventLinear(3, 2, density_threshold=2.0)
    with pytest.raises(ValueError, match="in_features"):
        event_linear(torch.zeros(2, 4), torch.zeros(3, 5))
    with pytest.raises(TypeError, match="x"):
        EventLinear(3, 2)([1, 2, 3])

"""PeriodicCosineLR: the closed form, torch's periodic cosine, restarts, exact resume."""

from __future__ import annotations

import math

import pytest
import torch

from spikeflow.quant import PeriodicCosineLR


def _opt(lr: float = 2.908e-3) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _lrs(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_falls_and_rises_with_the_published_period() -> None:
    lrs = _lrs(PeriodicCosineLR(_opt(), period=4690), 9381)
    expected = {0: 2.908e-3, 2345: 1.454e-3, 4690: 0.0, 7035: 1.454e-3, 9380: 2.908e-3}
    for t, value in expected.items():
        assert lrs[t] == pytest.approx(value, abs=1e-9), t


def test_equals_closed_form_and_torch_cosine_within_the_first_period() -> None:
    base, period = 0.01, 37
    ours = _lrs(PeriodicCosineLR(_opt(base), period=period, eta_min=1e-4), 3 * period)
    for t, lr in enumerate(ours):
        assert lr == pytest.approx(1e-4 + (base - 1e-4) * (1 + math.cos(math.pi * t / period)) / 2, rel=1e-12)
    theirs = _lrs(torch.optim.lr_scheduler.CosineAnnealingLR(_opt(base), T_max=period, eta_min=1e-4), period)
    assert ours[:period] == pytest.approx(theirs, rel=1e-9)


def test_restart_jumps_back() -> None:
    lrs = _lrs(PeriodicCosineLR(_opt(1.0), period=10, restart=True), 21)
    assert lrs[10] == 1.0 and lrs[20] == 1.0 and lrs[9] < 0.03


def test_resume_continues_exactly() -> None:
    a = PeriodicCosineLR(_opt(), period=7)
    _lrs(a, 5)
    b = PeriodicCosineLR(_opt(), period=7)
    b.load_state_dict(a.state_dict())
    b.optimizer.param_groups[0]["lr"] = a.optimizer.param_groups[0]["lr"]
    assert _lrs(a, 12) == _lrs(b, 12)


@pytest.mark.parametrize(("kwargs", "match"), [({"period": 0}, "period"), ({"period": 3, "eta_min": -1.0}, "eta_min"),
                                               ({"period": 2.5}, "period"), ({"period": 3, "restart": 1}, "restart")])
def test_bad_arguments(kwargs, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        PeriodicCosineLR(_opt(), **kwargs)

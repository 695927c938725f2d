"""Our surrogates give the same forward and backward as snnTorch 1.0's, where snnTorch's are sound."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from spikeflow import surrogate as sg

snn_surrogate = pytest.importorskip("snntorch.surrogate")

PAIRS: list[tuple[sg.Surrogate, Callable[[], Any]]] = [
    (sg.ATan(), lambda: snn_surrogate.atan()),
    (sg.ATan(alpha=3.5), lambda: snn_surrogate.atan(alpha=3.5)),
    (sg.FastSigmoid(), lambda: snn_surrogate.fast_sigmoid()),
    (sg.FastSigmoid(slope=4.0), lambda: snn_surrogate.fast_sigmoid(slope=4.0)),
    (sg.Sigmoid(), lambda: snn_surrogate.sigmoid()),
    (sg.Sigmoid(slope=3.0), lambda: snn_surrogate.sigmoid(slope=3.0)),
    (sg.SpikeRateEscape(), lambda: snn_surrogate.spike_rate_escape()),
    (sg.SpikeRateEscape(beta=2.0, slope=3.0), lambda: snn_surrogate.spike_rate_escape(beta=2.0, slope=3.0)),
    (sg.SparseFastSigmoid(), lambda: snn_surrogate.SFS()),
    (sg.SparseFastSigmoid(slope=5.0, B=-0.5), lambda: snn_surrogate.SFS(slope=5.0, B=-0.5)),
    (sg.Heaviside(), lambda: snn_surrogate.heaviside()),
    (sg.StraightThrough(), lambda: snn_surrogate.straight_through_estimator()),
]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=[repr(p[0]) for p in PAIRS])
def test_matches_snntorch_surrogate(ours: sg.Surrogate, theirs: Callable[[], Any]) -> None:
    # Moderate range: snnTorch's sigmoid computes exp(-slope x), which overflows float32 to
    # inf/inf = NaN once slope * |x| > 88 (x < -3.5 for slope 25); ours stays finite.
    x = torch.linspace(-3, 3, 801) + 1e-4
    w = torch.randn(801, generator=torch.Generator().manual_seed(0))
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    out_a, out_b = ours(xa), theirs()(xb)
    assert torch.equal(out_a, out_b)
    (out_a * w).sum().backward()
    (out_b * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-7)

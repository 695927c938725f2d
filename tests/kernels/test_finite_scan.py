"""The fused CPU kernel finds NaN / inf in its input while it reads it (no separate pass)."""

from __future__ import annotations

import pytest
import torch

import spikeflow as sf

pytest.importorskip("numba")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("where", [0, 7 * 1200 // 2 + 611, 7 * 1200 - 1])  # first, a later span, last element
def test_fused_kernel_refuses_nonfinite_input_anywhere(threads: int, bad: float, where: int) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.rand(7, 4, 300)  # 1,200 neurons: several spans with 2 threads
        x.view(-1)[where] = bad
        with pytest.raises(ValueError, match=r"^x: expected finite values, got [01] NaN and [01] inf"):
            sf.Leaky(beta=0.9, backend="cpu")(x)
        neuron = sf.Leaky(beta=0.9, backend="cpu")
        neuron.check_finite = False  # the user's switch: runs, the bad value goes into the state
        spikes, state = neuron(x)
        assert spikes.shape == x.shape and not torch.isfinite(state.v).all()
    finally:
        torch.set_num_threads(before)


def test_finite_input_that_the_model_scales_past_float_range_is_not_refused() -> None:
    # Lapicque feeds (dt / C) x to its row: finite x, infinite kernel input. The check is about the
    # caller's x, as on every other backend, so the fused run goes on (and agrees with the reference).
    x = torch.full((3, 2, 4), 1e20)
    kw = dict(R=1e30, C=1e-20, time_step=1.0)
    fused = sf.Lapicque(**kw, backend="cpu")(x)
    reference = sf.Lapicque(**kw, backend="reference")(x)
    assert torch.equal(fused[0], reference[0])

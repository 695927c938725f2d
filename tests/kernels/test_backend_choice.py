"""``auto`` picks the fused cpu backend where it applies and falls back to reference elsewhere."""

from __future__ import annotations

import pytest
import torch

import spikeflow as sf
from spikeflow import kernels
from spikeflow.functional import make_options

pytest.importorskip("numba")


def test_cpu_backend_is_listed() -> None:
    assert "cpu" in kernels.available_backends()
    assert kernels.check_backend("cpu") == "cpu"


@pytest.mark.parametrize(
    "model", ["leaky", "lapicque", "synaptic", "li", "cuba_li", "alpha", "adaptive", "rleaky", "rsynaptic"]
)
def test_auto_picks_cpu_for_cpu_float_tensors(model: str) -> None:
    opts = make_options()
    assert kernels.resolve("auto", model, torch.zeros(2, 1, 3), opts) == "cpu"
    assert kernels.resolve("auto", model, torch.zeros(2, 1, 3, dtype=torch.float64), opts) == "cpu"


@pytest.mark.parametrize(
    "model,x,opts",
    [
        ("leaky", torch.zeros(2, 1, 3, dtype=torch.float16), make_options()),
        ("rleaky", torch.zeros(2, 1, 3), make_options(inhibition=True)),
        ("leaky", torch.zeros(2, 1, 3, dtype=torch.bfloat16), make_options()),
    ],
)
def test_auto_falls_back_to_reference(model: str, x: torch.Tensor, opts) -> None:
    assert kernels.resolve("auto", model, x, opts) == "reference"


def test_explicit_cpu_on_unsupported_call_names_the_problem() -> None:
    with pytest.raises(ValueError, match="cpu"):
        kernels.resolve("cpu", "rleaky", torch.zeros(2, 1, 3), make_options(inhibition=True))


def test_module_with_inhibition_runs_fused_under_auto() -> None:
    lif = sf.Leaky(beta=0.9, threshold=0.5, inhibition=True)
    x = torch.rand(5, 2, 4)
    assert kernels.resolve(lif.backend, "leaky", x, lif.options()) == "cpu"
    spk, _ = lif(x)
    assert (spk.sum(-1) <= 1).all()


def test_default_backend_switch_gives_same_result() -> None:
    x = torch.randn(20, 3, 8) * 0.8
    lif = sf.Synaptic(alpha=0.7, beta=0.9)
    try:
        kernels.set_default_backend("reference")
        ref, _ = lif(x)
        kernels.set_default_backend("cpu")
        fused, _ = lif(x)
    finally:
        kernels.set_default_backend("auto")
    assert ref.sum() > 0
    assert torch.equal(ref, fused)

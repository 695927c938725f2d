"""float64 everywhere, and torch.autograd.gradcheck of every model's backward.

gradcheck compares the analytic backward with finite differences, which only makes sense
where the forward is differentiable. The Heaviside spike is piecewise constant, so:
  * with a surrogate whose derivative is zero (``ZERO``), spikes and resets are constants
    almost everywhere and the exact derivative of every output (spikes, membranes,
    currents) w.r.t. input and parameters must equal the backward -- this checks every
    reset path, the decays, the threshold and graded-spike gradients;
  * with the default ATan surrogate we check the membrane trace under reset="none", where
    the membrane does not depend on spikes at all (except through recurrence, excluded).
Inputs are random float64; the chance that a membrane lands within the finite-difference
step (1e-6) of the threshold is negligible, and the seeds are fixed.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

import spikeflow as sf
from spikeflow import surrogate as sg

T, B, N = 5, 2, 3


def zero_derivative(x: Tensor, spike: Tensor) -> Tensor:
    """Surrogate with dS/dx = 0: the backward of a piecewise-constant spike, exactly."""
    return torch.zeros_like(x)


ZERO = sg.Custom(zero_derivative)

PER_NEURON = {
    "beta": torch.tensor([0.6, 0.8, 0.9]),
    "alpha": torch.tensor([0.5, 0.7, 0.95]),
    "threshold": torch.tensor([0.9, 1.0, 1.2]),
}


def make(model: str, reset: str, reset_delay: bool, surrogate: Any, backend: str) -> nn.Module:
    thr = dict(threshold=PER_NEURON["threshold"], learn_threshold=True)
    spk = dict(reset=reset, reset_delay=reset_delay, surrogate=surrogate, backend=backend)
    b = dict(beta=PER_NEURON["beta"], learn_beta=True)
    a = dict(alpha=PER_NEURON["alpha"], learn_alpha=True)
    if model == "leaky":
        return sf.Leaky(**b, **thr, **spk, graded_spikes=torch.tensor([1.0, 2.0, 0.5]), learn_graded_spikes=True)
    if model == "if":
        return sf.IF(**thr, **spk)
    if model == "lapicque":
        return sf.Lapicque(R=torch.tensor([1.0, 2.0, 3.0]), C=torch.tensor([2.0, 1.5, 1.0]), time_step=0.5,
                           **thr, **spk)
    if model == "synaptic":
        return sf.Synaptic(**a, **b, **thr, **spk)
    if model == "alpha":
        return sf.Alpha(alpha=torch.tensor([0.9, 0.85, 0.95]), beta=torch.tensor([0.7, 0.6, 0.8]), learn_alpha=True,
                        learn_beta=True, **thr, **spk)
    if model == "adaptive":
        return sf.AdaptiveLeaky(**b, rho=torch.tensor([0.8, 0.9, 0.95]), adaptation=torch.tensor([0.2, 0.5, 0.1]),
                                learn_rho=True, learn_adaptation=True, **thr, **spk)
    if model == "rleaky":
        return sf.RLeaky(**b, V=torch.tensor([0.3, -0.4, 0.5]), all_to_all=False, **thr, **spk)
    if model == "rleaky_linear":
        return sf.RLeaky(**b, linear_features=N, **thr, **spk)
    if model == "rsynaptic":
        return sf.RSynaptic(**a, **b, V=torch.tensor([0.3, -0.4, 0.5]), all_to_all=False, **thr, **spk)
    if model == "rsynaptic_linear":
        return sf.RSynaptic(**a, **b, linear_features=N, **thr, **spk)
    raise AssertionError(model)


SPIKING = ["leaky", "if", "lapicque", "synaptic", "alpha", "adaptive", "rleaky", "rleaky_linear", "rsynaptic",
           "rsynaptic_linear"]
RESETS = [("subtract", True), ("zero", True), ("none", True), ("subtract", False), ("zero", False)]


def _tensors(module: nn.Module) -> dict[str, Tensor]:
    """Every parameter and floating buffer, as float64 leaves requiring grad."""
    named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {k: v.detach().double().requires_grad_(True) for k, v in named.items() if v.is_floating_point()}


def _gradcheck(module: nn.Module, x: Tensor, pick: Callable[[Tensor, Any], tuple[Tensor, ...]],
               names: list[str] | None = None) -> None:
    params = _tensors(module)
    if names is None:  # IF's beta is fixed at 1 (not a parameter; clamp01 has a kink there)
        names = [n for n in params if not (isinstance(module, sf.IF) and n == "beta")]
    fixed = {k: v.detach() for k, v in params.items() if k not in names}

    def fn(x: Tensor, *vals: Tensor) -> tuple[Tensor, ...]:
        swapped = {**fixed, **dict(zip(names, vals, strict=True))}
        out, trace = functional_call(module, swapped, (x,), {"record": True})
        return pick(out, trace)

    assert torch.autograd.gradcheck(fn, (x, *(params[n] for n in names)), eps=1e-6, atol=1e-6, rtol=1e-5,
                                    fast_mode=True)


def _x(seed: int, scale: float = 0.8, offset: float = 0.4) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * scale + offset).requires_grad_(True)


FUSED = ("leaky", "if", "lapicque", "synaptic")  # models the fused CPU backend runs under "auto"
SPIKE_CASES = [
    (model, reset, delay, backend)
    for model in SPIKING
    for reset, delay in RESETS
    for backend in (("reference", "auto") if model in FUSED else ("reference",))
    if not (model == "alpha" and not delay)  # Alpha defines only the delayed reset
]


@pytest.mark.parametrize("model, reset, reset_delay, backend", SPIKE_CASES, ids=lambda v: str(v))
def test_gradcheck_with_spikes_and_resets(model: str, reset: str, reset_delay: bool, backend: str) -> None:
    """All outputs and state traces, w.r.t. input and every parameter, while neurons spike."""
    module = make(model, reset, reset_delay, ZERO, backend)
    x = _x(seed=len(model) * 10 + len(reset) + int(reset_delay), scale=1.0, offset=0.6 if model != "lapicque" else 1.5)
    out, _ = module(x.detach())
    assert out.sum() > 0, "the case must spike"
    _gradcheck(module, x, lambda out, trace: (out, *trace))


@pytest.mark.parametrize(
    "model, backend",
    [(m, "reference") for m in ("leaky", "if", "lapicque", "synaptic", "alpha", "adaptive")]
    + [(m, "auto") for m in FUSED],
)
def test_gradcheck_membrane_with_atan_no_reset(model: str, backend: str) -> None:
    """Default surrogate, reset 'none': the membrane trace is smooth and its backward exact."""
    module = make(model, "none", True, sg.ATan(), backend)
    _gradcheck(module, _x(seed=3), lambda out, trace: (trace.v,))


@pytest.mark.parametrize("current", [False, True])
def test_gradcheck_li(current: bool) -> None:
    li = sf.LI(beta=PER_NEURON["beta"], learn_beta=True,
               **({"alpha": PER_NEURON["alpha"], "learn_alpha": True} if current else {}))
    _gradcheck(li, _x(seed=5), lambda out, trace: (out, *trace))


def test_gradcheck_alpha_membrane_wrt_decays_under_zero_reset() -> None:
    """Alpha's tau_a = log(a) / (log(b) - log(a)) + 1 differentiates correctly in alpha and beta."""
    module = make("alpha", "zero", True, ZERO, "reference")
    _gradcheck(module, _x(seed=11, scale=1.5, offset=0.8), lambda out, trace: (trace.v, trace.i_exc, trace.i_inh),
               names=["alpha", "beta"])


# --------------------------------------------------------------------------- float64 runs
ALL_MODELS = SPIKING + ["li", "li_current"]


def _any(model: str) -> nn.Module:
    if model == "li":
        return sf.LI(beta=0.9)
    if model == "li_current":
        return sf.LI(beta=0.9, alpha=0.8)
    return make(model, "subtract", True, None, "auto")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_float64_outputs_and_float32_params(model: str) -> None:
    module = _any(model)
    x = _x(seed=1).detach()
    out, state = module(x)
    assert out.dtype == torch.float64
    assert all(f.dtype == torch.float64 for f in state)
    step_out, step_state = module.step(x[0])
    assert step_out.dtype == torch.float64 and all(f.dtype == torch.float64 for f in step_state)
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        assert t.dtype == torch.float32, f"{name} must stay float32, got {t.dtype}"
    # float64 and float32 runs agree on the dynamics (the membrane, to float32 precision).
    out32, state32 = module(x.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(state32.v.double(), state.v, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["leaky", "synaptic", "rleaky_linear", "adaptive"])
def test_float64_backward_reaches_float32_params(model: str) -> None:
    module = _any(model)
    x = _x(seed=2)
    out, state = module(x)
    (out.sum() + state.v.sum()).backward()
    assert x.grad is not None and x.grad.dtype == torch.float64
    for name, p in module.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.dtype == torch.float32, name
            assert torch.isfinite(p.grad).all(), name

"""Property-based bad-input checks: for generated shapes, positions and values, every bad input
raises a ValueError/TypeError naming the argument, and every good one runs on every backend
with the same answer."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikeflow as sf
from spikeflow import losses, metrics
from spikeflow import surrogate as sg

from .test_bad_input_table import NEURONS

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
neuron_names = st.sampled_from(sorted(n for n in NEURONS if n not in ("RLeaky", "RSynaptic")))
dims = st.integers(min_value=1, max_value=4)
bad_values = st.sampled_from([float("nan"), float("inf"), float("-inf")])


@SETTINGS
@given(name=neuron_names, t=dims, b=dims, n=dims, pos=st.integers(0, 10_000), bad=bad_values,
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_any_nonfinite_input_is_refused(name: str, t: int, b: int, n: int, pos: int, bad: float, dtype: Any) -> None:
    x = torch.rand(t, b, n, dtype=dtype)
    x.view(-1)[pos % x.numel()] = bad
    with pytest.raises(ValueError, match=r"^x: expected finite values"):
        NEURONS[name][0]()(x)
    with pytest.raises(ValueError, match=r"^x_t: expected finite values"):
        NEURONS[name][0]().step(x[(pos % x.numel()) // (b * n)])


@SETTINGS
@given(name=neuron_names, b=dims, extra=st.lists(dims, min_size=1, max_size=3))
def test_snntorch_style_step_call_never_runs_silently(name: str, b: int, extra: list[int]) -> None:
    """lif(x_t, state) with x_t one step [B, ...] and a state of the same shape is refused."""
    make, state_type = NEURONS[name]
    x_t = torch.rand(b, *extra)
    state = state_type(*(torch.zeros_like(x_t) for _ in state_type._fields))
    with pytest.raises(ValueError, match=r"(x: shape .* is ambiguous|shaped like the whole input).*neuron\.step"):
        make()(x_t, state)
    out, new_state = make().step(x_t, state)  # the right call works
    assert out.shape == x_t.shape and new_state[0].shape == x_t.shape


@SETTINGS
@given(name=neuron_names, b=dims, n=dims,
       pair=st.sampled_from([(torch.float32, torch.float64), (torch.float64, torch.float32),
                             (torch.float32, torch.float16), (torch.float32, torch.int32)]))
def test_state_dtype_must_match_input(name: str, b: int, n: int, pair: tuple[Any, Any]) -> None:
    make, state_type = NEURONS[name]
    x_dtype, s_dtype = pair
    x = torch.rand(3, b, n, dtype=x_dtype)
    state = state_type(*(torch.zeros(b, n, dtype=s_dtype) for _ in state_type._fields))
    with pytest.raises(TypeError, match=rf"^state\.{state_type._fields[0]}: expected"):
        make()(x, state)


@SETTINGS
@given(flag=st.sampled_from(["learn_beta", "learn_threshold", "inhibition", "learn_graded_spikes"]),
       value=st.one_of(st.text(max_size=4), st.integers(), st.none(), st.floats(allow_nan=True)))
def test_flags_accept_only_bools(flag: str, value: Any) -> None:
    with pytest.raises(TypeError, match=rf"^{flag}: expected True or False"):
        sf.Leaky(beta=0.9, **{flag: value})


@SETTINGS
@given(cls_arg=st.sampled_from([(sg.ATan, "alpha"), (sg.FastSigmoid, "slope"), (sg.Sigmoid, "slope"),
                                (sg.SparseFastSigmoid, "slope"), (sg.SparseFastSigmoid, "B"),
                                (sg.Triangular, "width"), (sg.LeakySpikeOperator, "slope"),
                                (sg.StochasticSpikeOperator, "mean")]),
       value=st.sampled_from([float("nan"), float("inf"), float("-inf")]))
def test_surrogate_parameters_must_be_finite(cls_arg: tuple[Any, str], value: float) -> None:
    cls, arg = cls_arg
    with pytest.raises(ValueError, match=arg):
        cls(**{arg: value})


@SETTINGS
@given(threshold=st.floats(max_value=-1e-6, min_value=-1e6), name=st.sampled_from(["Leaky", "Synaptic", "RLeaky"]))
def test_negative_thresholds_refused(threshold: float, name: str) -> None:
    kwargs: dict[str, Any] = {"beta": 0.9, "threshold": threshold}
    if name == "Synaptic":
        kwargs["alpha"] = 0.5
    if name == "RLeaky":
        kwargs["linear_features"] = 2
    with pytest.raises(ValueError, match=r"^threshold: expected values >= 0"):
        getattr(sf, name)(**kwargs)


@SETTINGS
@given(r=st.floats(0.01, 10.0), c=st.floats(0.01, 10.0), dt=st.floats(0.01, 5.0))
def test_lapicque_refuses_exactly_the_unstable_steps(r: float, c: float, dt: float) -> None:
    if r * c < dt:
        with pytest.raises(ValueError, match=r"^R, C: the time constant"):
            sf.Lapicque(R=r, C=c, time_step=dt)
    else:
        decay = sf.Lapicque(R=r, C=c, time_step=dt).params(torch.zeros(1))["decay"]
        assert 0.0 <= float(decay) <= 1.0


@SETTINGS
@given(b=st.integers(1, 4), t=st.integers(1, 4), c=st.integers(2, 4), row=st.integers(0, 3),
       loss=st.sampled_from(["CETemporalLoss", "MSETemporalLoss"]))
def test_nan_spikes_never_scored(b: int, t: int, c: int, row: int, loss: str) -> None:
    spikes = torch.zeros(t, b, c)
    spikes[:, row % b] = float("nan")
    y = torch.zeros(b, dtype=torch.long)
    with pytest.raises(ValueError, match=r"^spikes: expected no NaN"):
        metrics.accuracy_rate(spikes, y)
    with pytest.raises(ValueError, match=r"^spikes: expected no NaN"):
        metrics.accuracy_first_spike(spikes, y)
    with pytest.raises(ValueError, match=r"^spikes: expected no NaN"):
        getattr(losses, loss)()(spikes, y)


@SETTINGS
@given(name=neuron_names, t=dims, b=st.integers(0, 3), n=dims, seed=st.integers(0, 2**16))
def test_good_inputs_same_answer_on_every_cpu_backend(name: str, t: int, b: int, n: int, seed: int) -> None:
    """The validation is shared: what one backend accepts, all accept, with equal results."""
    make, _ = NEURONS[name]
    x = torch.rand(t, b, n, generator=torch.Generator().manual_seed(seed)) * 2
    ref = make()
    ref.backend = "reference"
    auto = make()
    out_r, st_r = ref(x)
    out_a, st_a = auto(x)
    torch.testing.assert_close(out_a, out_r)
    for fa, fr in zip(st_a, st_r, strict=True):
        torch.testing.assert_close(fa, fr, rtol=1e-5, atol=1e-5)

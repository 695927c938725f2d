"""Table of plausible bad inputs to neurons, surrogates, encoders, losses and metrics.

Every row must raise a ValueError/TypeError whose message names the argument (the regex), or
is listed in GOOD_EDGE_CASES with its documented correct result. ``test_case_count`` prints
the totals that the issue reports.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import pytest
import torch

import spikeflow as sf
from spikeflow import encoding, losses, metrics
from spikeflow import surrogate as sg
from spikeflow.functional import (
    AdaptiveState,
    AlphaState,
    LeakyState,
    RLeakyState,
    RSynapticState,
    SynapticState,
)

NAN, INF = float("nan"), float("inf")
LONG = torch.long

# name -> (factory, state type): every neuron class with a 3-neuron layer
NEURONS: dict[str, tuple[Callable[[], sf.NeuronBase], type]] = {
    "Leaky": (lambda: sf.Leaky(beta=0.9), LeakyState),
    "IF": (lambda: sf.IF(), LeakyState),
    "Lapicque": (lambda: sf.Lapicque(beta=0.9), LeakyState),
    "Synaptic": (lambda: sf.Synaptic(alpha=0.8, beta=0.9), SynapticState),
    "Alpha": (lambda: sf.Alpha(alpha=0.9, beta=0.8), AlphaState),
    "AdaptiveLeaky": (lambda: sf.AdaptiveLeaky(beta=0.9, rho=0.9), AdaptiveState),
    "LI": (lambda: sf.LI(beta=0.9), LeakyState),
    "LI_syn": (lambda: sf.LI(beta=0.9, alpha=0.8), SynapticState),
    "RLeaky": (lambda: sf.RLeaky(beta=0.9, linear_features=3), RLeakyState),
    "RSynaptic": (lambda: sf.RSynaptic(alpha=0.8, beta=0.9, linear_features=3), RSynapticState),
}


def _with(value: float, shape: tuple[int, ...] = (4, 2, 3), at: int = 5) -> torch.Tensor:
    x = torch.rand(shape)
    x.view(-1)[at % x.numel()] = value
    return x


def _state(st: type, *shape: int, dtype: torch.dtype = torch.float32, fill: float = 0.0) -> Any:
    return st(*(torch.full(shape, fill).to(dtype) for _ in st._fields))


def _neuron_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    out: list[tuple[str, Callable[[], Any], type[Exception], str]] = []
    for name, (make, st) in NEURONS.items():
        f0 = st._fields[0]
        rows: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
            ("nan input", lambda m=make: m()(_with(NAN)), ValueError, r"x: expected finite.*1 NaN"),
            ("+inf input", lambda m=make: m()(_with(INF)), ValueError, r"x: expected finite.*1 inf"),
            ("-inf input", lambda m=make: m()(_with(-INF)), ValueError, r"x: expected finite.*1 inf"),
            ("nan step", lambda m=make: m().step(_with(NAN, (2, 3))), ValueError, r"x_t: expected finite"),
            ("inf step", lambda m=make: m().step(_with(INF, (2, 3))), ValueError, r"x_t: expected finite"),
            ("snnTorch step [B, N] as a sequence", lambda m=make: m()(torch.rand(2, 3)),
             ValueError, r"x: shape \(2, 3\) is ambiguous.*neuron\.step"),
            ("snnTorch step [B, N] with state", lambda m=make, s=st: m()(torch.rand(2, 3), _state(s, 2, 3)),
             ValueError, r"x: shape \(2, 3\) is ambiguous"),
            ("bare tensor state (snnTorch mem)", lambda m=make: m()(torch.rand(4, 2, 3), torch.zeros(2, 3)),
             TypeError, r"state: .*bare Tensor.*neuron\.step"),
            ("bare tensor state to step", lambda m=make: m().step(torch.rand(2, 3), torch.zeros(2, 3)),
             TypeError, r"state: .*bare Tensor"),
            ("float64 state, float32 input", lambda m=make, s=st: m()(torch.rand(4, 2, 3), _state(s, 2, 3, dtype=torch.float64)),
             TypeError, rf"state\.{f0}: expected dtype torch\.float32.*float64"),
            ("float32 state, float64 step", lambda m=make, s=st: m().step(torch.rand(2, 3, dtype=torch.float64), _state(s, 2, 3)),
             TypeError, rf"state\.{f0}: expected dtype torch\.float64.*float32"),
            ("int state", lambda m=make, s=st: m()(torch.rand(4, 2, 3), _state(s, 2, 3, dtype=torch.int64)),
             TypeError, rf"state\.{f0}: expected a floating-point.*int64"),
            ("bool state", lambda m=make, s=st: m().step(torch.rand(2, 3), _state(s, 2, 3, dtype=torch.bool)),
             TypeError, rf"state\.{f0}: .*bool"),
            ("nan state", lambda m=make, s=st: m()(torch.rand(4, 2, 3), _state(s, 2, 3, fill=NAN)),
             ValueError, rf"state\.{f0}: expected finite"),
            ("inf state", lambda m=make, s=st: m().step(torch.rand(2, 3), _state(s, 2, 3, fill=INF)),
             ValueError, rf"state\.{f0}: expected finite"),
            ("state on meta device", lambda m=make, s=st: m()(torch.rand(4, 2, 3), s(*(torch.zeros(2, 3, device="meta") for _ in s._fields))),
             ValueError, rf"state\.{f0}: expected a tensor on cpu.*meta"),
            ("input on meta device", lambda m=make: m()(torch.zeros(4, 2, 3, device="meta")),
             ValueError, r"x: expected a tensor with data.*meta"),
            ("T = 0", lambda m=make: m()(torch.zeros(0, 2, 3)), ValueError, r"x: expected at least one time step.*\(0, 2, 3\)"),
            ("integer step", lambda m=make: m().step(torch.zeros(2, 3, dtype=LONG)), TypeError, r"x_t: .*floating.*int64"),
        ]
        if name not in ("RLeaky", "RSynaptic"):  # recurrent ones need N = linear_features
            rows.append(("conv-like step with state shaped like it",
                         lambda m=make, s=st: m()(torch.rand(2, 3, 5), _state(s, 2, 3, 5)),
                         ValueError, rf"state\.{f0}: expected shape \(3, 5\).*shaped like the whole input.*neuron\.step"))
        out += [(f"{name}: {r[0]}", *r[1:]) for r in rows]
    return out


def _flag_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    rows: list[tuple[str, Callable[[], Any], type[Exception], str]] = []
    for flag in ("learn_beta", "learn_threshold", "learn_graded_spikes", "inhibition", "reset_delay"):
        for bad in ("no", 1, 0, None):
            if flag == "reset_delay" and bad is None:
                continue
            rows.append((f"Leaky({flag}={bad!r})", lambda f=flag, b=bad: sf.Leaky(beta=0.9, **{f: b}),
                         TypeError, rf"{flag}: expected .*{type(bad).__name__}"))
    rows += [
        ("Synaptic(learn_alpha='no')", lambda: sf.Synaptic(alpha=0.8, beta=0.9, learn_alpha="no"), TypeError, r"learn_alpha"),
        ("AdaptiveLeaky(learn_rho='yes')", lambda: sf.AdaptiveLeaky(beta=0.9, rho=0.9, learn_rho="yes"), TypeError, r"learn_rho"),
        ("AdaptiveLeaky(learn_adaptation=1)", lambda: sf.AdaptiveLeaky(beta=0.9, rho=0.9, learn_adaptation=1), TypeError, r"learn_adaptation"),
        ("LI(learn_beta='no')", lambda: sf.LI(beta=0.9, learn_beta="no"), TypeError, r"learn_beta"),
        ("LI(learn_alpha='no')", lambda: sf.LI(beta=0.9, learn_alpha="no"), TypeError, r"learn_alpha"),
        ("RLeaky(all_to_all='no')", lambda: sf.RLeaky(beta=0.9, all_to_all="no", linear_features=3), TypeError, r"all_to_all"),
        ("RLeaky(learn_recurrent='no')", lambda: sf.RLeaky(beta=0.9, linear_features=3, learn_recurrent="no"), TypeError, r"learn_recurrent"),
        ("RSynaptic(learn_recurrent=0, one-to-one)", lambda: sf.RSynaptic(alpha=0.5, beta=0.9, all_to_all=False, learn_recurrent=0),
         TypeError, r"learn_recurrent"),
        ("Leaky(detach_reset='no')", lambda: sf.Leaky(beta=0.9, detach_reset="no"), TypeError, r"detach_reset"),
        ("set_finite_checks('off')", lambda: sf.neurons.set_finite_checks("off"), TypeError, r"enabled: expected True or False"),
    ]
    return rows


def _scalar_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    return [
        ("SparseFastSigmoid(B=nan)", lambda: sg.SparseFastSigmoid(B=NAN), ValueError, r"B: expected a finite"),
        ("SparseFastSigmoid(B=inf)", lambda: sg.SparseFastSigmoid(B=INF), ValueError, r"B: expected a finite"),
        ("SparseFastSigmoid(B='1')", lambda: sg.SparseFastSigmoid(B="1"), TypeError, r"B: expected a real"),
        ("SparseFastSigmoid(slope=nan)", lambda: sg.SparseFastSigmoid(slope=NAN), ValueError, r"slope"),
        ("ATan(alpha=0)", lambda: sg.ATan(alpha=0), ValueError, r"alpha"),
        ("ATan(alpha=True)", lambda: sg.ATan(alpha=True), TypeError, r"alpha: expected a real"),
        ("FastSigmoid(slope=-1)", lambda: sg.FastSigmoid(slope=-1), ValueError, r"slope"),
        ("FastSigmoid(slope='25')", lambda: sg.FastSigmoid(slope="25"), TypeError, r"slope"),
        ("Sigmoid(slope=inf)", lambda: sg.Sigmoid(slope=INF), ValueError, r"slope"),
        ("Triangular(width=0)", lambda: sg.Triangular(width=0.0), ValueError, r"width"),
        ("SpikeRateEscape(beta=nan)", lambda: sg.SpikeRateEscape(beta=NAN), ValueError, r"beta"),
        ("StochasticSpikeOperator(mean=nan)", lambda: sg.StochasticSpikeOperator(mean=NAN), ValueError, r"mean: expected a finite"),
        ("StochasticSpikeOperator(variance=0)", lambda: sg.StochasticSpikeOperator(variance=0), ValueError, r"variance"),
        ("LeakySpikeOperator(slope=nan)", lambda: sg.LeakySpikeOperator(slope=NAN), ValueError, r"slope"),
        ("Leaky(threshold=-1)", lambda: sf.Leaky(beta=0.9, threshold=-1.0), ValueError, r"threshold: expected values >= 0.*-1"),
        ("Leaky(threshold=[1, -0.5])", lambda: sf.Leaky(beta=0.9, threshold=torch.tensor([1.0, -0.5])), ValueError, r"threshold: expected values >= 0"),
        ("Synaptic(threshold=-0.1)", lambda: sf.Synaptic(alpha=0.5, beta=0.9, threshold=-0.1), ValueError, r"threshold"),
        ("Leaky(threshold=inf)", lambda: sf.Leaky(beta=0.9, threshold=INF), ValueError, r"threshold: expected finite"),
        ("Leaky(graded_spikes=nan)", lambda: sf.Leaky(beta=0.9, graded_spikes=NAN), ValueError, r"graded_spikes"),
        ("Lapicque(R=1, C=0.5): R*C < time_step", lambda: sf.Lapicque(R=1.0, C=0.5), ValueError, r"R, C: the time constant R\*C.*0\.5"),
        ("Lapicque(R=2, C=1, time_step=5)", lambda: sf.Lapicque(R=2.0, C=1.0, time_step=5.0), ValueError, r"R, C: .*time_step=5"),
        ("Lapicque per-neuron R*C < step", lambda: sf.Lapicque(R=torch.tensor([5.0, 0.1]), C=1.0), ValueError, r"R, C"),
        ("Lapicque(beta=0.2): derived R*C < step", lambda: sf.Lapicque(beta=0.2), ValueError, r"beta: Lapicque derives R\*C.*1/e"),
        ("Lapicque(time_step=True)", lambda: sf.Lapicque(beta=0.9, time_step=True), ValueError, r"time_step"),
        ("Leaky(dt=inf)", lambda: sf.Leaky(tau_mem=5.0, dt=INF), ValueError, r"dt: .*inf"),
        ("AdaptiveLeaky(adaptation=nan)", lambda: sf.AdaptiveLeaky(beta=0.9, rho=0.9, adaptation=NAN), ValueError, r"adaptation"),
        ("RLeaky(V=nan)", lambda: sf.RLeaky(beta=0.9, all_to_all=False, V=NAN), ValueError, r"V: expected finite"),
        ("Leaky(beta=nan tensor)", lambda: sf.Leaky(beta=torch.tensor([0.5, NAN])), ValueError, r"beta: expected finite"),
    ]


def _empty_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    spk0 = torch.zeros(3, 0, 4)
    y0 = torch.zeros(0, dtype=LONG)
    return [
        ("inhibition with 0 neurons", lambda: sf.Leaky(beta=0.9, inhibition=True)(torch.zeros(3, 2, 0)),
         ValueError, r"inhibition: .*at least one neuron.*\(2, 0\)"),
        ("inhibition step with 0 neurons", lambda: sf.Synaptic(alpha=0.5, beta=0.9, inhibition=True).step(torch.zeros(2, 0)),
         ValueError, r"inhibition"),
        ("CERateLoss mean on B=0", lambda: losses.CERateLoss()(spk0, y0), ValueError, r"empty batch \(B = 0\)"),
        ("CECountLoss mean on B=0", lambda: losses.CECountLoss()(spk0, y0), ValueError, r"B = 0"),
        ("CEMaxMembraneLoss mean on B=0", lambda: losses.CEMaxMembraneLoss()(spk0, y0), ValueError, r"B = 0"),
        ("CETemporalLoss mean on B=0", lambda: losses.CETemporalLoss()(spk0, y0), ValueError, r"B = 0"),
        ("MSECountLoss mean on B=0", lambda: losses.MSECountLoss()(spk0, y0), ValueError, r"B = 0"),
        ("MSEMembraneLoss mean on B=0", lambda: losses.MSEMembraneLoss()(spk0, y0), ValueError, r"B = 0"),
        ("MSETemporalLoss mean on B=0", lambda: losses.MSETemporalLoss()(spk0, y0), ValueError, r"B = 0"),
        ("accuracy_rate on B=0", lambda: metrics.accuracy_rate(spk0, y0), ValueError, r"targets: expected a non-empty batch"),
        ("metrics on T=0", lambda: metrics.accuracy_rate(torch.zeros(0, 2, 4), torch.zeros(2, dtype=LONG)),
         ValueError, r"spikes: expected at least one time step"),
        ("first_spike_time on T=0", lambda: metrics.first_spike_time(torch.zeros(0, 2)), ValueError, r"spikes: expected at least one"),
    ]


LOSS_CLASSES = {
    "CERateLoss": losses.CERateLoss, "CECountLoss": losses.CECountLoss, "CEMaxMembraneLoss": losses.CEMaxMembraneLoss,
    "CETemporalLoss": losses.CETemporalLoss, "MSECountLoss": losses.MSECountLoss,
    "MSEMembraneLoss": losses.MSEMembraneLoss, "MSETemporalLoss": losses.MSETemporalLoss,
}
ACCURACIES = {"accuracy_rate": metrics.accuracy_rate, "accuracy_first_spike": metrics.accuracy_first_spike,
              "accuracy_membrane": metrics.accuracy_membrane}
PREDICTIONS = {"predict_rate": metrics.predict_rate, "predict_first_spike": metrics.predict_first_spike,
               "predict_membrane": metrics.predict_membrane}


def _loss_metric_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    out = torch.rand(5, 2, 4)
    y = torch.tensor([1, 3])
    y_meta = torch.zeros(2, dtype=LONG, device="meta")
    nan_sample = out.clone()
    nan_sample[:, 0] = NAN  # one all-NaN sample
    rows: list[tuple[str, Callable[[], Any], type[Exception], str]] = []
    for name, cls in LOSS_CLASSES.items():
        arg = "mem" if "Membrane" in name else "spikes"
        rows += [
            (f"{name}: meta-device targets", lambda c=cls: c()(out, y_meta), ValueError, r"targets: expected a tensor with data.*meta"),
            (f"{name}: meta-device outputs", lambda c=cls: c()(out.to("meta"), y), ValueError, rf"{arg}: expected a tensor with data"),
            (f"{name}: NaN class weight", lambda c=cls: c(weight=torch.tensor([1.0, NAN, 1.0, 1.0])), ValueError, r"weight: expected finite non-negative.*nan"),
            (f"{name}: inf class weight", lambda c=cls: c(weight=[1.0, INF, 1.0, 1.0]), ValueError, r"weight: expected finite"),
            (f"{name}: negative class weight", lambda c=cls: c(weight=[1.0, -1.0, 1.0, 1.0]), ValueError, r"weight: .*non-negative"),
        ]
    for name, fn in ACCURACIES.items():
        arg = "mem" if "membrane" in name else "spikes"
        rows += [
            (f"{name}: all-NaN sample", lambda f=fn: f(nan_sample, y), ValueError, rf"{arg}: expected no NaN.*class 0"),
            (f"{name}: meta targets", lambda f=fn: f(out, y_meta), ValueError, r"targets: expected a tensor with data"),
        ]
    for name, fn in PREDICTIONS.items():
        arg = "mem" if "membrane" in name else "spikes"
        rows.append((f"{name}: NaN", lambda f=fn: f(nan_sample), ValueError, rf"{arg}: expected no NaN"))
    rows += [
        ("CETemporalLoss: NaN counted as a spike", lambda: losses.CETemporalLoss()(nan_sample, y), ValueError, r"spikes: expected no NaN"),
        ("MSETemporalLoss: NaN counted as a spike", lambda: losses.MSETemporalLoss()(nan_sample, y), ValueError, r"spikes: expected no NaN"),
        ("first_spike_time: NaN", lambda: metrics.first_spike_time(nan_sample), ValueError, r"spikes: expected no NaN"),
        ("MSETemporalLoss(tolerance=nan)", lambda: losses.MSETemporalLoss(tolerance=NAN), ValueError, r"tolerance: expected a finite.*nan"),
        ("MSETemporalLoss(tolerance=inf)", lambda: losses.MSETemporalLoss(tolerance=INF), ValueError, r"tolerance"),
        ("MSETemporalLoss(tolerance=-1)", lambda: losses.MSETemporalLoss(tolerance=-1), ValueError, r"tolerance: expected a non-negative"),
        ("MSETemporalLoss(on_target=nan)", lambda: losses.MSETemporalLoss(on_target=NAN), ValueError, r"on_target"),
        ("MSEMembraneLoss(off_target=inf)", lambda: losses.MSEMembraneLoss(off_target=INF), ValueError, r"off_target"),
        ("MSEMembraneLoss(on_target='1')", lambda: losses.MSEMembraneLoss(on_target="1"), TypeError, r"on_target: expected a real"),
        ("MSEMembraneLoss(time_varying_targets='no')", lambda: losses.MSEMembraneLoss(time_varying_targets="no"), TypeError, r"time_varying_targets"),
        ("MSECountLoss(correct_rate=nan)", lambda: losses.MSECountLoss(correct_rate=NAN), ValueError, r"correct_rate"),
        ("FiringRateBounds(lower=nan)", lambda: losses.FiringRateBounds(lower=NAN), ValueError, r"lower: expected a finite"),
        ("FiringRateBounds(upper=inf)", lambda: losses.FiringRateBounds(lower=0.1, upper=INF), ValueError, r"upper"),
        ("L1RateSparsity(weight=inf)", lambda: losses.L1RateSparsity(weight=INF), ValueError, r"weight: expected a finite"),
        ("L1RateSparsity(weight=nan)", lambda: losses.L1RateSparsity(weight=NAN), ValueError, r"weight"),
        ("sparsity on meta", lambda: metrics.sparsity(torch.zeros(3, device="meta")), ValueError, r"spikes: expected a tensor with data"),
    ]
    return rows


def _encoder_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    lab = torch.tensor([0, 2])
    return [
        ("to_one_hot(dtype='float32')", lambda: encoding.to_one_hot(lab, 3, dtype="float32"), TypeError, r"dtype: expected a torch\.dtype.*'float32'"),
        ("to_one_hot(dtype=float)", lambda: encoding.to_one_hot(lab, 3, dtype=float), TypeError, r"dtype: expected a torch\.dtype"),
        ("to_one_hot(meta labels)", lambda: encoding.to_one_hot(lab.to("meta"), 3), ValueError, r"labels: expected a tensor with data"),
        ("rate_targets(stochastic=True, dtype=long)", lambda: encoding.rate_targets(lab, 3, 5, stochastic=True, dtype=torch.long),
         TypeError, r"dtype: expected a floating-point dtype.*int64"),
        ("rate_targets(dtype='float')", lambda: encoding.rate_targets(lab, 3, 5, dtype="float"), TypeError, r"dtype"),
        ("latency_targets(dtype=np string)", lambda: encoding.latency_targets(lab, 3, 5, dtype="float64"), TypeError, r"dtype"),
        ("rate_targets(meta labels)", lambda: encoding.rate_targets(lab.to("meta"), 3, 5), ValueError, r"labels: expected a tensor with data"),
        ("rate(meta data)", lambda: encoding.rate(torch.zeros(3, device="meta"), 4), ValueError, r"data: expected a tensor with data"),
        ("latency(meta data)", lambda: encoding.latency(torch.zeros(3, device="meta"), 4), ValueError, r"data: expected a tensor with data"),
        ("delta(meta data)", lambda: encoding.delta(torch.zeros(3, device="meta")), ValueError, r"data: expected a tensor with data"),
        ("population(meta values)", lambda: encoding.population(torch.zeros(3, device="meta"), 4, 0.0, 1.0), ValueError, r"values"),
        ("rate(NaN data)", lambda: encoding.rate(torch.tensor([0.5, NAN]), 4), ValueError, r"data: expected no NaN"),
        ("rate(gain=nan)", lambda: encoding.rate(torch.rand(3), 4, gain=NAN), ValueError, r"gain"),
        ("latency(tau=inf)", lambda: encoding.latency(torch.rand(3), 4, tau=INF), ValueError, r"tau"),
        ("delta(threshold=nan)", lambda: encoding.delta(torch.rand(3, 2), threshold=NAN), ValueError, r"threshold"),
        ("population(sigma=nan)", lambda: encoding.population(torch.rand(3), 4, 0.0, 1.0, sigma=NAN), ValueError, r"sigma"),
    ]


CASES = _neuron_cases() + _flag_cases() + _scalar_cases() + _empty_cases() + _loss_metric_cases() + _encoder_cases()


@pytest.mark.parametrize("fn, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(fn: Callable[[], Any], exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        fn()


# ---------------------------------------------------------------- documented correct results
def _ok_zero_neurons() -> None:
    out, st = sf.Leaky(beta=0.9)(torch.zeros(3, 2, 0))
    assert out.shape == (3, 2, 0) and st.v.shape == (2, 0)


def _ok_zero_batch() -> None:
    for name, (make, _) in NEURONS.items():
        out, _st = make()(torch.rand(3, 0, 3))
        assert out.shape == (3, 0, 3), name


def _ok_sum_loss_empty_batch() -> None:
    for cls in LOSS_CLASSES.values():
        assert float(cls(reduction="sum")(torch.zeros(3, 0, 4), torch.zeros(0, dtype=LONG))) == 0.0
        assert cls(reduction="none")(torch.zeros(3, 0, 4), torch.zeros(0, dtype=LONG)).shape == (0,)


def _ok_T1_sequence() -> None:
    x = torch.rand(1, 2, 3)
    out, st = sf.Leaky(beta=0.9)(x)
    out_s, st_s = sf.Leaky(beta=0.9).step(x[0])
    assert torch.equal(out[0], out_s) and torch.equal(st.v, st_s.v)


def _ok_scalar_neurons_step() -> None:
    out, st = sf.Leaky(beta=0.9).step(torch.tensor([2.0, 0.5]))  # [B] of scalar neurons, per step
    assert out.tolist() == [1.0, 0.0] and st.v.shape == (2,)


def _ok_checks_off() -> None:
    x = _with(NAN)
    with sf.neurons.finite_checks(False):
        out, _ = sf.Leaky(beta=0.9)(x)  # the caller opted out: runs, NaN propagates
    assert out.shape == x.shape
    lif = sf.Leaky(beta=0.9)
    lif.check_finite = False
    lif(x)
    with pytest.raises(ValueError):
        sf.Leaky(beta=0.9)(x)  # back on outside the block


def _ok_threshold_zero() -> None:
    out, _ = sf.Leaky(beta=0.9, threshold=0.0)(torch.tensor([[[0.1, -0.1]]]))
    assert out.tolist() == [[[1.0, 0.0]]]


def _ok_tau_warning() -> None:
    with pytest.warns(UserWarning, match=r"tau_mem=0\.02 is much shorter than dt=1.*same unit"):
        sf.Leaky(tau_mem=20e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sf.Leaky(tau_mem=20e-3, dt=1e-3)  # same unit: no warning
    with pytest.warns(UserWarning, match=r"tau_syn"):
        sf.Synaptic(tau_syn=0.01, tau_mem=5.0)


def _ok_lapicque_boundary() -> None:
    assert sf.Lapicque(R=1.0, C=1.0).params(torch.zeros(1))["decay"].item() == 0.0  # R*C == dt is allowed
    sf.Lapicque(beta=math.exp(-1) + 1e-6)


def _ok_snntorch_method_hint() -> None:
    with pytest.raises(AttributeError, match=r"init_leaky: spikeflow neurons keep no state.*neuron\.step"):
        sf.Leaky(beta=0.9).init_leaky()
    with pytest.raises(AttributeError, match=r"fast_sigmoid.*FastSigmoid\(slope\)"):
        sg.fast_sigmoid  # noqa: B018


GOOD_EDGE_CASES: dict[str, Callable[[], None]] = {
    "0 neurons without inhibition: empty output": _ok_zero_neurons,
    "B = 0 for every neuron: empty output": _ok_zero_batch,
    "losses with reduction sum/none on B = 0: 0 / empty": _ok_sum_loss_empty_batch,
    "T = 1 sequence equals one step": _ok_T1_sequence,
    "1-d step [B] of scalar neurons": _ok_scalar_neurons_step,
    "finite checks opted out": _ok_checks_off,
    "threshold 0 allowed": _ok_threshold_zero,
    "tau << dt warns": _ok_tau_warning,
    "Lapicque R*C == dt allowed": _ok_lapicque_boundary,
    "snnTorch method names explained": _ok_snntorch_method_hint,
}


@pytest.mark.parametrize("check", list(GOOD_EDGE_CASES.values()), ids=list(GOOD_EDGE_CASES))
def test_documented_edge_case(check: Callable[[], None]) -> None:
    check()


def test_case_count() -> None:
    """The table is as large as claimed (guards against rows silently dropped by a refactor)."""
    print(f"\nbad-input table: {len(CASES)} error cases + {len(GOOD_EDGE_CASES)} documented edge cases")
    assert len(CASES) >= 250

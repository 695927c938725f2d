"""Bad input raises ValueError/TypeError naming the argument and showing what was received."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.functional import LeakyState, SynapticState

x3 = torch.zeros(4, 2, 3)  # [T, B, N]


def _call(module: nn.Module, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: module(*args, **kwargs)


CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # ---- shapes / time dimension
    ("sequential without time dim", _call(sf.Sequential(nn.Linear(3, 2), sf.Leaky(beta=0.9)), torch.zeros(5, 3)),
     ValueError, r"x: .*time-major.*\(5, 3\)"),
    ("per-neuron beta, [B, N] input", _call(sf.Leaky(beta=torch.full((3,), 0.9)), torch.zeros(5, 3)),
     ValueError, r"x: shape \(5, 3\) is ambiguous.*neuron\.step"),
    ("per-neuron beta, wrong N", _call(sf.Leaky(beta=torch.full((3,), 0.9)), torch.zeros(4, 2, 5)),
     ValueError, r"beta: per-neuron shape \(3,\).*\(5,\)"),
    ("per-neuron threshold, wrong N", _call(sf.Leaky(beta=0.9, threshold=torch.ones(3)), torch.zeros(4, 2, 5)),
     ValueError, r"threshold: per-neuron shape \(3,\)"),
    ("1-d sequence", _call(sf.Leaky(beta=0.9), torch.zeros(5)), ValueError, r"x: .*\[T, B, \.\.\.\].*\(5,\)"),
    ("0-d step", lambda: sf.Leaky(beta=0.9).step(torch.tensor(1.0)), ValueError, r"x_t: .*\(\)"),
    ("integer input", _call(sf.Leaky(beta=0.9), torch.zeros(4, 2, 3, dtype=torch.int64)),
     TypeError, r"x: .*floating.*int64"),
    ("list input", _call(sf.Leaky(beta=0.9), [[0.0]]), TypeError, r"x: expected a Tensor.*list"),
    ("rleaky input width", _call(sf.RLeaky(beta=0.9, linear_features=4), torch.zeros(4, 2, 3)),
     ValueError, r"x: all-to-all .*4.*\(2, 3\)"),
    # ---- state
    ("state wrong shape", _call(sf.Leaky(beta=0.9), x3, LeakyState(torch.zeros(2, 4))),
     ValueError, r"state\.v: expected shape \(2, 3\).*\(2, 4\)"),
    ("step state wrong shape", lambda: sf.Synaptic(alpha=0.8, beta=0.9).step(
        torch.zeros(2, 3), SynapticState(torch.zeros(2, 3), torch.zeros(3))),
     ValueError, r"state\.v: expected shape \(2, 3\).*\(3,\)"),
    ("state wrong type", _call(sf.Leaky(beta=0.9), x3, "rest"), TypeError, r"state: expected LeakyState.*str"),
    ("state wrong arity", _call(sf.Synaptic(alpha=0.8, beta=0.9), x3, LeakyState(torch.zeros(2, 3))),
     TypeError, r"state: expected SynapticState.*LeakyState"),
    ("state field not a tensor", _call(sf.Leaky(beta=0.9), x3, LeakyState([0.0])),  # type: ignore[arg-type]
     ValueError, r"state\.v: .*list"),
    ("sequential states length", _call(sf.Sequential(nn.Linear(3, 2), sf.Leaky(beta=0.9)), x3, [None]),
     ValueError, r"states: expected a list of 2 .*got 1"),
    # ---- decays and time constants
    ("beta nan", lambda: sf.Leaky(beta=float("nan")), ValueError, r"beta: expected finite.*nan"),
    ("beta inf tensor", lambda: sf.Leaky(beta=torch.tensor([0.5, float("inf")])), ValueError, r"beta: .*inf"),
    ("beta > 1", lambda: sf.Leaky(beta=1.5), ValueError, r"beta: expected values in \[0, 1\].*1\.5"),
    ("beta < 0", lambda: sf.Synaptic(alpha=0.5, beta=-0.1), ValueError, r"beta: .*-0\.1"),
    ("alpha > 1", lambda: sf.Synaptic(alpha=2.0, beta=0.5), ValueError, r"alpha: .*2\.0"),
    ("beta string", lambda: sf.Leaky(beta="0.9"), TypeError, r"beta: expected a number or a Tensor.*str"),  # type: ignore[arg-type]
    ("beta bool", lambda: sf.Leaky(beta=True), TypeError, r"beta: .*bool"),
    ("beta missing", lambda: sf.Leaky(), ValueError, r"beta.*tau_mem.*None"),
    ("beta and tau", lambda: sf.Leaky(beta=0.9, tau_mem=5.0), ValueError, r"beta.*tau_mem.*5\.0"),
    ("tau_mem zero", lambda: sf.Leaky(tau_mem=0.0), ValueError, r"tau_mem: .*positive.*0\.0"),
    ("tau_mem negative tensor", lambda: sf.Leaky(tau_mem=torch.tensor([5.0, -1.0])), ValueError, r"tau_mem: .*-1"),
    ("tau_syn negative", lambda: sf.Synaptic(tau_syn=-2.0, tau_mem=5.0), ValueError, r"tau_syn: .*-2\.0"),
    ("tau_adapt zero", lambda: sf.AdaptiveLeaky(beta=0.9, tau_adapt=0.0), ValueError, r"tau_adapt: .*0\.0"),
    ("rho > 1", lambda: sf.AdaptiveLeaky(beta=0.9, rho=1.2), ValueError, r"rho: .*1\.2"),
    ("dt zero", lambda: sf.Leaky(tau_mem=5.0, dt=0.0), ValueError, r"dt: .*0\.0"),
    ("dt nan", lambda: sf.Leaky(tau_mem=5.0, dt=float("nan")), ValueError, r"dt: .*nan"),
    ("threshold nan", lambda: sf.Leaky(beta=0.9, threshold=float("nan")), ValueError, r"threshold: .*nan"),
    ("li beta > 1", lambda: sf.LI(beta=1.01), ValueError, r"beta: .*1\.01"),
    ("li learn_alpha without alpha", lambda: sf.LI(beta=0.9, learn_alpha=True), ValueError, r"learn_alpha"),
    ("lapicque time_step", lambda: sf.Lapicque(beta=0.9, time_step=0.0), ValueError, r"time_step: .*0\.0"),
    ("lapicque negative R", lambda: sf.Lapicque(R=-1.0, C=1.0), ValueError, r"R and C .*-1\.0"),
    ("lapicque missing", lambda: sf.Lapicque(), ValueError, r"R.*C.*beta=None"),
    # ---- options
    ("unknown reset", lambda: sf.Leaky(beta=0.9, reset="soft"), ValueError, r"reset: expected one of .*'soft'"),
    ("reset not str", lambda: sf.Synaptic(alpha=0.5, beta=0.9, reset=0), ValueError, r"reset: .*0"),  # type: ignore[arg-type]
    ("reset_delay not bool", lambda: sf.Leaky(beta=0.9, reset_delay=1), TypeError, r"reset_delay: .*int"),  # type: ignore[arg-type]
    ("unknown surrogate", lambda: sf.Leaky(beta=0.9, surrogate="tanh"), ValueError, r"surrogate: unknown name 'tanh'"),
    ("surrogate wrong type", lambda: sf.Leaky(beta=0.9, surrogate=3), TypeError, r"surrogate: .*int"),
    ("unknown backend", lambda: sf.Leaky(beta=0.9, backend="gpu9"), ValueError, r"backend: .*'gpu9'"),
    # ---- model-specific
    ("alpha <= beta", lambda: sf.Alpha(alpha=0.5, beta=0.9), ValueError,
     r"alpha must be greater than beta.*alpha=0\.5, beta=0\.(9|8999)"),
    ("alpha == beta", lambda: sf.Alpha(alpha=0.8, beta=0.8), ValueError, r"alpha.*beta.*0\.8"),
    ("alpha same-step reset", lambda: sf.Alpha(alpha=0.9, beta=0.8, reset_delay=False),
     ValueError, r"reset_delay.*False"),
    ("rleaky no linear_features", lambda: sf.RLeaky(beta=0.9), ValueError, r"linear_features: .*None"),
    ("rsynaptic bad linear_features", lambda: sf.RSynaptic(alpha=0.5, beta=0.9, linear_features=0),
     ValueError, r"linear_features: .*0"),
    ("IF with beta", lambda: sf.IF(beta=0.5), TypeError, r"'beta'"),  # type: ignore[call-arg]
]


@pytest.mark.parametrize("fn, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_message(fn: Callable[[], Any], exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        fn()


def test_good_input_still_works_after_errors() -> None:
    """Validation does not leave a module half-configured."""
    lif = sf.Leaky(beta=torch.full((3,), 0.9))
    with pytest.raises(ValueError):
        lif(torch.zeros(5, 3))
    spikes, state = lif(torch.zeros(5, 2, 3))
    assert spikes.shape == (5, 2, 3) and state.v.shape == (2, 3)

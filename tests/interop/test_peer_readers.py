"""spikeflow's exported FILE, loaded by each installed peer's own NIR reader, runs like the original.

Every combination is a test. A peer bug is an xfail(strict=True) whose reason names the peer's code,
so a fixed peer shows up as an unexpected pass. The table in docs/nir.md is this file's outcome.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nir
import pytest
import torch
from torch import nn

import spikeflow as sf
from spikeflow.interop import save_nir
from spikeflow.layers.delay import Delay
from spikeflow.layers.elementwise import Scale, Threshold
from spikeflow.layers.pool import SumPool2d

DT = 1e-4
Z = dict(reset="zero", reset_delay=False)
T = 20


def _seq(*m: nn.Module) -> nn.Module:
    return sf.Sequential(*m)


# name: (builder, sample shape); every case exports without a warning (nothing only in metadata)
CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "Leaky": (lambda: _seq(nn.Linear(4, 5), sf.Leaky(beta=0.9, threshold=0.5, **Z)), (4,)),
    "Leaky_heterogeneous": (lambda: _seq(nn.Linear(4, 5), sf.Leaky(beta=torch.rand(5) * .5 + .4, threshold=0.5, **Z)),
                            (4,)),
    "Leaky_graded": (lambda: _seq(nn.Linear(4, 5), sf.Leaky(beta=0.9, threshold=0.5, graded_spikes=2.0, **Z)), (4,)),
    "IF": (lambda: _seq(nn.Linear(4, 5), sf.IF(threshold=0.5, **Z)), (4,)),
    "Lapicque": (lambda: _seq(nn.Linear(4, 5), sf.Lapicque(beta=0.9, threshold=0.5, **Z)), (4,)),
    "Synaptic": (lambda: _seq(nn.Linear(4, 5), sf.Synaptic(alpha=0.6, beta=0.9, threshold=0.5, **Z)), (4,)),
    "LI": (lambda: _seq(nn.Linear(4, 5), sf.LI(beta=0.9)), (4,)),
    "LI_integrator": (lambda: _seq(nn.Linear(4, 5), sf.LI(beta=1.0)), (4,)),
    "CubaLI": (lambda: _seq(nn.Linear(4, 5), sf.LI(beta=0.9, alpha=0.5)), (4,)),
    "RLeaky": (lambda: _seq(nn.Linear(4, 5), sf.RLeaky(beta=0.9, linear_features=5, threshold=0.5, **Z)), (4,)),
    "RLeaky_graded": (lambda: _seq(nn.Linear(4, 5), sf.RLeaky(beta=0.9, linear_features=5, threshold=0.5,
                                                              graded_spikes=0.5, **Z)), (4,)),
    "RSynaptic": (lambda: _seq(nn.Linear(4, 5), sf.RSynaptic(alpha=0.7, beta=0.9, linear_features=5, threshold=0.5,
                                                             **Z)), (4,)),
    "Linear": (lambda: _seq(nn.Linear(4, 5, bias=False)), (4,)),
    "Affine": (lambda: _seq(nn.Linear(4, 5)), (4,)),
    "Conv2d": (lambda: _seq(nn.Conv2d(2, 3, 3, padding=1)), (2, 6, 6)),
    "Conv2d_grouped": (lambda: _seq(nn.Conv2d(4, 6, 3, groups=2)), (4, 6, 6)),
    "Conv1d": (lambda: _seq(nn.Conv1d(2, 3, 3)), (2, 8)),
    "SumPool2d": (lambda: _seq(SumPool2d(2)), (2, 6, 6)),
    "AvgPool2d": (lambda: _seq(nn.AvgPool2d(2)), (2, 6, 6)),
    "Flatten": (lambda: _seq(nn.Flatten(), nn.Linear(18, 3)), (2, 3, 3)),
    "Scale": (lambda: _seq(Scale(torch.rand(4) + .5)), (4,)),
    "Delay": (lambda: _seq(Delay(torch.tensor([0, 1, 2, 3]))), (4,)),
    "Threshold": (lambda: _seq(Threshold(torch.rand(4))), (4,)),
}


def _snntorch(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    from snntorch.import_nir import import_from_nir

    module = import_from_nir(nir.read(path))
    return lambda x: torch.stack([_first(module(x_t)) for x_t in x])


def _norse(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    import norse.torch as norse

    module = norse.from_nir(nir.read(path), dt=DT)
    return lambda x: _stateful(module, x)


def _spikingjelly(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    module = import_from_nir(path, dt=DT)
    return lambda x: _stateful(module, x)


def _nirtorch(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    import nirtorch

    module = nirtorch.nir_to_torch(nir.read(path), {})
    return lambda x: _stateful(module, x)


def _first(y: Any) -> torch.Tensor:
    return y[0] if isinstance(y, tuple) else y


def _stateful(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    state, outs = None, []
    for x_t in x:
        y = module(x_t, state) if state is not None else module(x_t)
        if isinstance(y, tuple):
            y, state = y[0], y[1]
        outs.append(y)
    return torch.stack(outs)


READERS = {"snntorch": _snntorch, "norse": _norse, "spikingjelly": _spikingjelly, "nirtorch": _nirtorch}
PACKAGES = {"snntorch": "snntorch", "norse": "norse", "spikingjelly": "spikingjelly", "nirtorch": "nirtorch"}

def _unmapped(reader: str, node: str) -> str:
    where = {"nirtorch": "nirtorch 2.6 nir_interpreter._map_nir_node_to_torch (plain nirtorch maps only Affine, "
                         "Linear, Conv, Flatten and pooling; a framework supplies the rest)",
             "snntorch": "snntorch 1.0 import_nir._nir_to_snntorch_module (then nirtorch: 'Unknown node type')",
             "spikingjelly": "spikingjelly 2.0 nir_exchange/from_nir.py (then nirtorch: 'Unknown node type')",
             "norse": "norse 1.1 torch/utils/import_nir.py _to_norse: the node is dropped without a word (an "
                      "empty graph, or the previous layer's output comes out)"}[reader]
    return f"no mapping for nir.{node}: {where}"


NORSE_R = ("norse 1.1 torch/utils/import_nir.py _to_norse: nir.LIF -> LIFBoxCell ignores r (ours is tau/dt, the "
           "input gain), so the membrane integrates x instead of r x")
FLATTEN = ("{} passes NIR's Flatten start_dim/end_dim to torch.nn.Flatten unchanged, but NIR's dims exclude the batch "
           "dim: the wrong dims are flattened")
SNN_REC = ("snntorch 1.0 import_nir.import_from_nir with nirtorch 2.6: a recurrent sub-graph fails "
           "('GraphModule' object has no attribute 'items')")

# (case, reader) -> why that reader does not reproduce it (peer code named); absent: exact
KNOWN: dict[tuple[str, str], str] = {
    **{(c, "nirtorch"): _unmapped("nirtorch", n) for c, n in [
        ("Leaky", "LIF"), ("Leaky_heterogeneous", "LIF"), ("Leaky_graded", "LIF"), ("IF", "IF"), ("Lapicque", "LIF"),
        ("Synaptic", "CubaLIF"), ("LI", "LI"), ("LI_integrator", "I"), ("CubaLI", "CubaLI"), ("RLeaky", "LIF"),
        ("RLeaky_graded", "LIF"), ("RSynaptic", "CubaLIF"), ("Scale", "Scale"), ("Delay", "Delay"),
        ("Threshold", "Threshold")]},
    **{(c, "snntorch"): _unmapped("snntorch", n) for c, n in [
        ("LI", "LI"), ("LI_integrator", "I"), ("CubaLI", "CubaLI"), ("Scale", "Scale"), ("Leaky_graded", "Scale"),
        ("RLeaky_graded", "Scale"), ("Delay", "Delay"), ("Threshold", "Threshold")]},
    **{(c, "spikingjelly"): _unmapped("spikingjelly", n) for c, n in [
        ("LI", "LI"), ("LI_integrator", "I"), ("CubaLI", "CubaLI"), ("Scale", "Scale"), ("Leaky_graded", "Scale"),
        ("RLeaky_graded", "Scale"), ("Delay", "Delay"), ("Threshold", "Threshold")]},
    **{(c, "norse"): _unmapped("norse", n) for c, n in [
        ("LI", "LI"), ("LI_integrator", "I"), ("CubaLI", "CubaLI"), ("Scale", "Scale"), ("Delay", "Delay"),
        ("Threshold", "Threshold"), ("AvgPool2d", "AvgPool2d"), ("Conv1d", "Conv1d")]},
    **{(c, "norse"): NORSE_R for c in ("Leaky", "Leaky_heterogeneous", "Leaky_graded", "RLeaky", "RLeaky_graded")},
    ("Flatten", "nirtorch"): FLATTEN.format("nirtorch 2.6 nir_interpreter._default_map_flatten"),
    ("Flatten", "norse"): FLATTEN.format("norse 1.1 torch/utils/import_nir.py (via nirtorch's legacy map)"),
    ("Flatten", "snntorch"): FLATTEN.format("snntorch 1.0 import_nir._nir_to_snntorch_module"),
    ("IF", "snntorch"): "snntorch 1.0 import_nir._nir_to_snntorch_module asserts r == 1 for nir.IF (ours is the "
                        "Euler r = 1/dt) and would build Leaky(beta=0.9), not an integrator",
    ("Affine", "nirtorch"): "nirtorch 2.6 nir_interpreter._default_map_affine assigns the bias to module.weight.bias, "
                            "not module.bias: the Linear keeps its random initial bias",
    ("RLeaky", "snntorch"): SNN_REC,
    ("RSynaptic", "snntorch"): SNN_REC,
    ("Leaky_heterogeneous", "spikingjelly"): "spikingjelly 2.0 nir_exchange/from_nir.py _uniform_scalar refuses "
                                             "per-neuron tau (uniform parameters only)",
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_peer_reader_runs_our_file(case: str, reader: str, tmp_path, request) -> None:
    pytest.importorskip(PACKAGES[reader])
    if (case, reader) in KNOWN:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN[(case, reader)]))
    build, shape = CASES[case]
    net = build()
    path = tmp_path / f"{case}.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the file is exact: no setting only in metadata
        save_nir(net, path, shape, dt=DT)
    x = (torch.rand(T, 2, *shape) < 0.5).float() * 1.5
    with torch.no_grad():
        expected = net(x)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = READERS[reader](path)(x)
    assert got.shape == expected.shape
    if _spiking(net):  # spikes: exactly the same
        assert torch.equal(got, expected), f"{int((got != expected).sum())} of {expected.numel()} values differ"
    else:  # real values: peers run each step's matmul/conv alone, we batch T*B rows (float32 rounding order)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def _spiking(net: nn.Module) -> bool:
    last = list(net.children())[-1]
    return isinstance(last, (sf.Leaky, sf.Synaptic, sf.RLeaky, sf.RSynaptic, sf.Lapicque, Threshold))

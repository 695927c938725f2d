"""torch.compile(fullgraph=True) of a Leaky over a whole sequence: no graph break, same numbers.

"aot_eager" runs Dynamo's full-graph capture and AOTAutograd (forward and backward graphs)
without inductor's C++ code generation: it checks everything about our code that
compilation touches (graph breaks, the custom autograd.Function, dtype/shape guards) while
keeping the suite fast (a cold inductor compile costs ~10 s of CPU per graph here).
"""

from __future__ import annotations

import pytest
import torch

import spikeflow as sf


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> None:
    torch._dynamo.reset()


def _input() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(8, 2, 5, generator=gen) * 1.5


def _check_fwd_bwd(lif: sf.Leaky, compile_backend: str) -> None:
    compiled = torch.compile(lambda x: lif(x)[0], fullgraph=True, backend=compile_backend)
    x = _input()
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    eager, comp = lif(xa)[0], compiled(xb)
    assert torch.equal(eager, comp)
    assert eager.sum() > 0
    w = torch.randn(eager.shape, generator=torch.Generator().manual_seed(1))
    (eager * w).sum().backward()
    grads_eager = [xa.grad] + [p.grad.clone() for p in lif.parameters()]
    lif.zero_grad()
    (comp * w).sum().backward()
    grads_comp = [xb.grad] + [p.grad for p in lif.parameters()]
    for a, b in zip(grads_eager, grads_comp, strict=True):
        torch.testing.assert_close(a, b)


def test_compile_fullgraph_default_leaky() -> None:
    """The module exactly as a user builds it (default backend selection)."""
    _check_fwd_bwd(sf.Leaky(beta=0.9, learn_beta=True, learn_threshold=True), "aot_eager")


def test_compile_fullgraph_reference_backend() -> None:
    """The functional core itself traces into one graph (no backend dispatch involved)."""
    lif = sf.Leaky(beta=torch.linspace(0.5, 0.9, 5), learn_beta=True, reset="zero", reset_delay=False,
                   backend="reference")
    _check_fwd_bwd(lif, "aot_eager")

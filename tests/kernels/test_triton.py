"""The Triton backend beyond the conformance suite: import hygiene, GPU compilation of the
generated kernels (no fused multiply-add), neuron modules, and larger layers on CUDA.

Values and gradients against the reference for every model and option are checked by
``test_conformance.py`` (interpreted on CPU, on CUDA where a GPU is present).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import torch

pytest.importorskip("triton")

import spikeflow as sf  # noqa: E402
from spikeflow import kernels  # noqa: E402
from spikeflow.functional import LeakyState, SynapticState, make_options  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    if not CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.mark.parametrize(
    "cls,kw",
    [(sf.Leaky, {"beta": 0.9, "learn_beta": True}), (sf.Alpha, {"alpha": 0.9, "beta": 0.8}),
     (sf.AdaptiveLeaky, {"beta": 0.9, "rho": 0.95, "learn_rho": True})],
)
def test_neuron_module_triton_equals_reference(cls: type, kw: dict[str, Any]) -> None:
    x = (torch.randn(15, 3, 6, generator=torch.Generator().manual_seed(2)) + 0.5).to(DEVICE)
    results = []
    for backend in ("reference", "triton"):
        torch.manual_seed(0)
        lif = cls(**kw, backend=backend).to(DEVICE)
        xi = x.clone().requires_grad_()
        out, _ = lif(xi)
        out.sum().backward()
        results.append((out, xi.grad, [p.grad for p in lif.parameters()]))
    (o1, gx1, gp1), (o2, gx2, gp2) = results
    assert torch.equal(o1, o2) and o1.sum() > 0
    torch.testing.assert_close(gx2, gx1, rtol=1e-5, atol=1e-6)
    for a, b in zip(gp1, gp2, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_reasons_name_what_it_does_not_fuse(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.zeros(2, 1, 3, device=DEVICE)
    assert kernels.resolve("auto", "leaky", x, make_options()) == "triton"
    with pytest.raises(kernels.NoKernelError, match="triton_scan: model 'rleaky'"):
        kernels.resolve("triton", "rleaky", x, make_options())
    with pytest.raises(kernels.NoKernelError, match="inhibition"):
        kernels.resolve("triton", "leaky", x, make_options(inhibition=True))
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(kernels.NoKernelError, match="TRITON_INTERPRET"):
        kernels.resolve("triton", "leaky", torch.zeros(2, 1, 3), make_options())


def test_import_spikeflow_does_not_import_triton() -> None:
    code = "import sys, spikeflow, spikeflow.kernels; assert 'triton' not in sys.modules, 'triton imported'"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


_AOT = r"""
import os, sys
os.environ.pop("TRITON_INTERPRET", None)
try:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
except ImportError as err:
    print("AOT-API-MISSING", err)
    sys.exit(0)
from spikeflow.dynamics import MODELS
from spikeflow.kernels.triton.codegen import drivers
from spikeflow.surrogate import ATan

f, consts = ATan().kernel_formula()
for name in ("leaky", "synaptic", "alpha", "adaptive", "li"):
    spec = MODELS[name]
    for mod in (drivers(spec, None, 0), drivers(spec, f, len(consts))):
        for fn, flags in ((mod.forward, dict(RECORD=True, BLOCK=128)), (mod.backward, dict(HAS_GTR=True, BLOCK=128))):
            for dtype in ("fp32", "fp64"):
                ints = ("T", "M", "L", "C_LO", "C_HI", "PHASE", "GS_T")
                sig = {n: "constexpr" if n in flags else "i32" if n in ints else dtype if n in
                       ("ss", "sz", "ds", "dz", "nd") else "*" + dtype for n in fn.arg_names}
                kernel = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=flags),
                                        target=GPUTarget("cuda", 90, 32),
                                        options={"num_warps": 4, "enable_fp_fusion": False})
                assert "fma.rn" not in kernel.asm["ptx"], "fused multiply-add would break bit-exactness"
print("AOT-OK")
"""


def test_kernels_compile_for_the_gpu(tmp_path) -> None:
    """Without a GPU: the generated kernels compile for sm_90 (the interpreter does not catch GPU-only errors)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path)
    env["SPIKEFLOW_CACHE_DIR"] = str(tmp_path / "sf")
    done = subprocess.run([sys.executable, "-c", _AOT], env=env, timeout=600, capture_output=True, text=True)
    if "AOT-API-MISSING" in done.stdout:
        pytest.skip(f"this triton has no ahead-of-time compile API: {done.stdout.strip()}")
    if done.returncode != 0 and ("ptxas" in done.stderr and "not found" in done.stderr.lower()):
        pytest.skip("ptxas is not available")
    assert done.returncode == 0 and "AOT-OK" in done.stdout, done.stderr[-3000:]


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("model", ["leaky", "synaptic"])
def test_cuda_larger_layer_matches_reference(model: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(11)
    t, b, n = 100, 16, 300  # several programs, a partial last block
    x = (torch.randn(t, b, n, generator=gen, dtype=dtype) + 0.2).cuda().requires_grad_()
    beta = torch.full((n,), 0.9, dtype=dtype, device="cuda", requires_grad=True)
    thr = torch.tensor(1.0, dtype=dtype, device="cuda", requires_grad=True)
    params: dict[str, Any] = {"beta": beta, "threshold": thr, "graded": 1.0}
    if model == "synaptic":
        params["alpha"] = torch.tensor(0.5, dtype=dtype, device="cuda")
        state: Any = SynapticState(torch.zeros(b, n, dtype=dtype, device="cuda"),
                                   torch.zeros(b, n, dtype=dtype, device="cuda"))
    else:
        state = LeakyState(torch.zeros(b, n, dtype=dtype, device="cuda"))
    opts = make_options("subtract", True)
    res = []
    for backend in ("reference", "triton"):
        out, tr = kernels.run(model, x, state, params, opts, record=True, backend=backend)
        res.append((out, tr.v, torch.autograd.grad(out.sum() + tr.v.pow(2).sum(), [x, beta, thr])))
    (o1, v1, g1), (o2, v2, g2) = res
    flips = o1 != o2
    assert not (flips & ((v1 - 1.0).abs() >= 1e-6)).any()
    torch.testing.assert_close(v2, v1, rtol=1e-5, atol=1e-5)
    if not flips.any():
        for a, b_ in zip(g1, g2, strict=True):
            torch.testing.assert_close(b_, a, rtol=1e-4, atol=1e-4)

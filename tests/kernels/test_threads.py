"""The cpu kernels follow torch's thread count, leave it unchanged, and do not depend on it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import spikeflow as sf

numba = pytest.importorskip("numba")


def test_a_fused_call_keeps_torchs_thread_count() -> None:
    """Starting numba's OpenMP pool must not change torch.set_num_threads (fresh process)."""
    script = (
        "import torch; torch.set_num_threads(1)\n"
        "import spikeflow as sf\n"
        "x = torch.randn(30, 4, 300, requires_grad=True)\n"
        "s, _ = sf.Leaky(beta=0.9, backend='cpu')(x); s.sum().backward()\n"
        "print(torch.get_num_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "1"


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_results_do_not_depend_on_kernel_threads(monkeypatch: pytest.MonkeyPatch, reset: str) -> None:
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(40, 6, 70, generator=gen) + 0.3).requires_grad_()  # 420 neurons: several spans
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SPIKEFLOW_NUMBA_THREADS", threads)
        spikes, state = sf.Leaky(beta=0.9, reset=reset, backend="cpu")(x)
        (grad,) = torch.autograd.grad(spikes.sum() + (state.v**2).sum(), x)
        spikes2, _ = sf.Leaky(beta=0.9, reset=reset, backend="cpu")(x)
        (grad_ckpt,) = torch.autograd.grad(spikes2.sum(), x)  # the checkpointed training path
        results.append((spikes, state.v, grad, grad_ckpt))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def _models(n: int) -> dict[str, torch.nn.Module]:
    return {
        "synaptic": sf.Synaptic(alpha=0.8, beta=0.9, learn_beta=True, learn_threshold=True),
        "lapicque": sf.Lapicque(beta=0.9),
        "alpha": sf.Alpha(alpha=0.9, beta=0.8),
        "adaptive": sf.AdaptiveLeaky(beta=0.9, rho=0.95, learn_rho=True),
        "rleaky one-to-one": sf.RLeaky(beta=0.9, V=0.5, all_to_all=False),
        "rsynaptic all-to-all": sf.RSynaptic(alpha=0.8, beta=0.9, linear_features=n),
        "leaky inhibition": sf.Leaky(beta=0.9, threshold=0.5, inhibition=True),
    }


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
@pytest.mark.parametrize("name", list(_models(4)))
def test_every_fused_model_is_thread_count_independent(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Outputs, final states and every gradient are bit-identical at 1 and 2 kernel threads."""
    n = 70
    torch.manual_seed(5)
    neuron = _models(n)[name]
    neuron.backend = "cpu"
    x = (torch.randn(30, 6, n) + 0.4).requires_grad_()  # 420 neurons per step: several spans
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SPIKEFLOW_NUMBA_THREADS", threads)
        out, state = neuron(x)
        assert out.sum() > 0
        leaves = [x, *(p for p in neuron.parameters() if p.requires_grad)]
        grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1])).sum() + state[-1].sum(), leaves)
        results.append((out, *state, *grads))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("m,threads,dtype", [
    (16384, 1, torch.float32), (16384, 2, torch.float32), (5000, 2, torch.float32), (5000, 2, torch.float64),
    (100, 2, torch.float32), (10, 1, torch.float64), (2049, 1, torch.float32), (0, 2, torch.float32),
])
def test_neuron_blocks_are_balanced_and_cache_sized(m: int, threads: int, dtype: torch.dtype) -> None:
    """Blocks hold a multiple of 64 neurons, at most SPAN_BYTES of one row (the backward's working
    set stays in L2), cover every neuron, and every thread gets the same number of them."""
    from spikeflow.kernels._cpu_util import BLOCK
    from spikeflow.kernels.numba import driver

    x = torch.zeros(3, m, dtype=dtype)
    blk, _ = driver._span(x, m, threads, False)
    nblocks = -(-m // blk)
    assert blk % BLOCK == 0 and blk * x.element_size() <= max(driver.SPAN_BYTES, BLOCK * x.element_size())
    assert (nblocks - 1) * blk < m <= nblocks * blk or m == 0
    if m > BLOCK * threads:
        assert nblocks % threads == 0


@pytest.mark.parametrize("model", ["leaky", "synaptic"])
def test_results_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    from spikeflow.kernels.numba import driver

    gen = torch.Generator().manual_seed(5)
    x = (torch.randn(30, 3, 70, generator=gen) + 0.3).requires_grad_()  # 210 neurons
    results = []
    for span_bytes in (driver.SPAN_BYTES, 256):  # one block, then blocks of 64 neurons
        monkeypatch.setattr(driver, "SPAN_BYTES", span_bytes)
        neuron = (sf.Leaky(beta=0.9, learn_beta=True, backend="cpu") if model == "leaky"
                  else sf.Synaptic(alpha=0.8, beta=0.9, learn_beta=True, backend="cpu"))
        spikes, _ = neuron(x)
        grads = torch.autograd.grad(spikes.sum(), [x, neuron.beta])
        results.append((spikes, *grads))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)

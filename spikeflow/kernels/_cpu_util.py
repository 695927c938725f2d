"""Helpers shared by the fused CPU kernels (numba): numpy views, buffers, reductions, the lock."""

from __future__ import annotations

import os
import threading
import types
from typing import Any

import numpy as np
import torch
from torch import Tensor

try:  # numba is a dependency; without it the cpu backend declares itself unavailable
    import numba

    if numba.config.THREADING_LAYER == "default":
        # OpenMP first: a launch is cheap and the calling thread takes part (workqueue wakes
        # separate workers per launch, which lost to one thread next to torch's spinning pool);
        # workqueue where no OpenMP runtime is installed
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
except ImportError:  # pragma: no cover - exercised only on installs without numba
    numba = None

from .call import RESET_CODE  # noqa: E402,F401  (one definition of the reset codes)
from .fused import reduce_to, scale_graded  # noqa: E402,F401

BLOCK = 64  # spans are multiples of this many neurons (cache-line aligned for float32/64)


def span(m: int, threads: int) -> int:
    """Neurons per parallel chunk: one contiguous span per thread, a multiple of BLOCK (a long
    contiguous span keeps the row accesses streaming)."""
    per = (m + threads - 1) // max(1, threads)
    return max(BLOCK, (per + BLOCK - 1) // BLOCK * BLOCK)


def _serial(kernel: Any) -> Any:
    """The same kernel compiled without threading (prange runs as range): no parallel launch."""
    py = kernel.py_func
    twin = types.FunctionType(py.__code__, py.__globals__, py.__name__ + "_serial", py.__defaults__, py.__closure__)
    twin.__qualname__ = py.__qualname__ + "_serial"
    return numba.njit(cache=True, nogil=True, error_model=kernel.targetoptions.get("error_model", "python"))(twin)


def flat(t: Tensor, feature_shape: torch.Size, m: int) -> np.ndarray:
    """Expand a scalar / per-neuron / per-sample tensor to [M] and view it as numpy."""
    return t.detach().expand(feature_shape).reshape(m).contiguous().numpy()


# numba's workqueue pool does not accept concurrent launches from several Python threads
KERNEL_LOCK = threading.Lock()


_pool_started = False


def _start_numba_pool() -> None:
    """Start numba's thread pool once, keeping torch's thread count.

    numba's OpenMP layer binds to the OpenMP runtime torch already loaded, so both share one
    pool (no second set of spinning threads), but starting it calls omp_set_num_threads with
    numba's pool size, which would silently change ``torch.get_num_threads()``: restore it.
    """
    global _pool_started
    if not _pool_started:
        before = torch.get_num_threads()
        numba.get_num_threads()  # starts the pool
        torch.set_num_threads(before)
        _pool_started = True


def kernel_threads() -> int:
    """Number of numba threads the kernels will use: torch's intra-op thread count, or
    SPIKEFLOW_NUMBA_THREADS when set, at most numba's pool size.

    Following torch keeps ``torch.set_num_threads(1)`` meaning one thread everywhere (and
    keeps DataLoader workers, where torch sets one thread, off the OpenMP pool, which is not
    fork-safe). Each kernel is one parallel launch per forward or backward; at one thread
    the serial twins run with no launch at all.
    """
    _start_numba_pool()
    wanted = os.environ.get("SPIKEFLOW_NUMBA_THREADS")
    n = torch.get_num_threads() if wanted is None else int(wanted)
    n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
    return n


# 1 MB of float32 per temporary: large enough that per-op overhead and OpenMP stalls stay small,
# small enough to stay in cache and below glibc's mmap threshold (4 MB temporaries were
# mmap'ed, page-faulted and unmapped on every op: 5x slower)
CHUNK_ELEMS = 1 << 18


def heaviside(shifted: Tensor) -> Tensor:
    """H(shifted) as 0/1 in shifted's dtype: ``gt`` writing floats directly (8x faster than bool .to())."""
    return torch.gt(shifted, 0, out=torch.empty_like(shifted))


def surrogate_grad(sur: Any, u: Tensor, thr: Tensor) -> Tensor:
    """sg[t] = sur.grad(u[t] - thr, H(u[t] - thr)) over [T, M], in cache-sized chunks of steps."""
    T, m = u.shape
    sg = big_buffer(tuple(u.shape), u.dtype)
    step = max(1, CHUNK_ELEMS // max(1, m))
    for t0 in range(0, T, step):
        shifted = u[t0 : t0 + step] - thr
        sg[t0 : t0 + step] = sur.grad(shifted, heaviside(shifted))
    return sg


def big_buffer(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """An uninitialised [T, M] buffer from numpy's allocator, which asks Linux for transparent
    huge pages on large arrays: first touch costs a few 2 MB faults instead of one 4 kB fault
    per page (a fresh [T, M] buffer is allocated on every call)."""
    return torch.from_numpy(np.empty(shape, dtype=np.float32 if dtype == torch.float32 else np.float64))

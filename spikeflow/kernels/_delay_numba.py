"""Event-driven numba kernels of the per-synapse delay with the linear kernel.

full [S, B, N_in] (S = D + T: history then input), weight / k0 / frac transposed to [N_in, N_out]
(contiguous over output neurons). An input x_i at full index s reaches output j at
t = s - D + k0_ji with weight (1 - frac_ji) and at t + 1 with weight frac_ji (see
spikeflow.functional.delay). The forward and the weight / delay gradients visit only nonzero
inputs (spikes); the input gradient is dense.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - the kernels are declared unavailable without numba
    numba = None


def _forward(full: Any, wt: Any, k0: Any, fr: Any, d_max: int, y: Any) -> None:  # pragma: no cover - compiled
    s_len, b_len, n_in = full.shape
    t_len, _, n_out = y.shape
    for b in numba.prange(b_len):
        for s in range(s_len):
            for i in range(n_in):
                val = full[s, b, i]
                if val == 0:
                    continue
                for j in range(n_out):
                    t = s - d_max + k0[i, j]
                    w = wt[i, j] * val
                    if 0 <= t < t_len:
                        y[t, b, j] += w * (1 - fr[i, j])
                    if 0 <= t + 1 < t_len:
                        y[t + 1, b, j] += w * fr[i, j]


def _backward(full: Any, wt: Any, k0: Any, fr: Any, d_max: int, gy: Any, need_x: bool,
              gfull: Any, gw: Any, gf: Any) -> None:  # pragma: no cover - compiled
    s_len, b_len, n_in = full.shape
    t_len, _, n_out = gy.shape
    for i in numba.prange(n_in):
        for s in range(s_len):
            for b in range(b_len):
                val = full[s, b, i]
                if val == 0 and not need_x:
                    continue
                acc = 0.0
                for j in range(n_out):
                    t = s - d_max + k0[i, j]
                    g0 = gy[t, b, j] if 0 <= t < t_len else 0.0
                    g1 = gy[t + 1, b, j] if 0 <= t + 1 < t_len else 0.0
                    mix = g0 + fr[i, j] * (g1 - g0)
                    acc += wt[i, j] * mix
                    if val != 0:
                        gw[i, j] += val * mix
                        gf[i, j] += wt[i, j] * val * (g1 - g0)
                gfull[s, b, i] = acc


_KERNELS: dict[tuple[str, bool], Any] = {}


def kernel(name: str, parallel: bool) -> Any:
    """The compiled kernel ``name`` ("forward" or "backward"), threaded or serial."""
    key = (name, parallel)
    if key not in _KERNELS:
        fn = _forward if name == "forward" else _backward
        _KERNELS[key] = numba.njit(parallel=parallel, nogil=True, cache=True, error_model="numpy")(fn)
    return _KERNELS[key]


def as_np(t: Any) -> np.ndarray:
    return t.detach().contiguous().numpy()

"""Seeding and random-number-generator state, in a form ``torch.load(weights_only=True)`` accepts.

Every RNG a run touches is covered: torch's CPU generator (and CUDA's when present), NumPy's
legacy global generator, Python's ``random``, and an optional ``torch.Generator`` that drives
the data order. States are stored as tensors and plain Python values only.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, generator: torch.Generator | None = None) -> torch.Generator:
    """Seed torch, NumPy and ``random`` with ``seed``; seed (or create) a data-order generator.

    Returns the data-order generator (pass it to ``DataLoader(generator=...)``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator() if generator is None else generator
    generator.manual_seed(seed)
    return generator


def get_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Snapshot of every global RNG (and ``generator``) as tensors and plain values."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "generator": None if generator is None else generator.get_state(),
    }
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore what :func:`get_rng_state` captured (and ``generator``'s state when both exist)."""
    if not isinstance(state, dict) or not {"torch", "numpy", "python"} <= state.keys():
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"state: expected a dict with keys 'torch', 'numpy', 'python', got {got}")
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    if generator is not None and state.get("generator") is not None:
        generator.set_state(state["generator"])

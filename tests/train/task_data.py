"""Tiny generated data for the task tests: tonic's file formats (no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_tonic(d: Path, samples: int = 2) -> Path:
    """N-MNIST, SHD and DVS Gesture files with ``samples`` random recordings per split."""
    from spikeflow.data import tonic_files as TF

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        TF.write_nmnist(d, split, [(np.stack([rng.integers(0, 34, 40), rng.integers(0, 34, 40),
                                              np.sort(rng.integers(0, 300_000, 40)), rng.integers(0, 2, 40)], 1), k)
                                   for k in range(samples)])
        TF.write_shd(d, split, [(np.sort(rng.uniform(0, 0.3, 30)), rng.integers(0, 700, 30), k)
                                for k in range(samples)])
        TF.write_dvsgesture(d, split, [(np.stack([rng.integers(0, 128, 60), rng.integers(0, 128, 60),
                                                  rng.integers(0, 2, 60), np.sort(rng.uniform(0, 300, 60))], 1),
                                        (0, 4, 10)[k % 3]) for k in range(samples)])
    return d

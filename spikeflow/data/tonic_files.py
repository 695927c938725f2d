"""Writers of tonic's on-disk formats (N-MNIST .bin, SHD HDF5, DVS Gesture .npy) for tests and demos.

Each writes files where tonic's data set class looks for them under ``DATA_DIR/<ClassName>/``,
in the layout of the extracted archives, so that the real tonic readers load them.

    N-MNIST .bin: 5 bytes per event: x, y, (p << 7) | t[22:16], t[15:8], t[7:0] (t in µs);
        files at NMNIST/{Train,Test}/<digit>/<id>.bin
    SHD HDF5: spikes/times (vlen float, seconds), spikes/units (vlen uint16), labels (uint16),
        extra/keys, extra/speaker; file SHD/shd_{train,test}.h5
    DVS Gesture: float array [N, 4] with columns x, y, p, t (ms); files
        DVSGesture/ibmGesture{Train,Test}/user<NN>_<lighting>/<label>.npy
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def encode_nmnist(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, p: np.ndarray) -> bytes:
    """Events -> N-MNIST's 40-bit records (t must be < 2**23 µs; no overflow markers written)."""
    x, y, t, p = (np.asarray(a, dtype=np.int64) for a in (x, y, t_us, p))
    if t.size and (t.min() < 0 or t.max() >= 1 << 23):
        raise ValueError(f"t_us: expected timestamps in [0, 2**23) µs, got [{t.min()}, {t.max()}]")
    if x.size and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 239):
        raise ValueError("x, y: expected 0 <= x <= 255 and 0 <= y <= 239 (y = 240 marks an overflow)")
    rec = np.stack([x, y, (p.astype(bool) << 7) | (t >> 16), (t >> 8) & 255, t & 255], axis=1).astype(np.uint8)
    return rec.tobytes()


def write_nmnist(data_dir: str | Path, split: str, samples: Sequence[tuple[np.ndarray, int]]) -> list[Path]:
    """samples: (events [N, 4] int columns x, y, t_us, p, digit) -> NMNIST/<Train|Test>/<digit>/<k>.bin."""
    folder = Path(data_dir) / "NMNIST" / ("Train" if split == "train" else "Test")
    paths = []
    for k, (ev, digit) in enumerate(samples):
        path = folder / str(int(digit)) / f"{k:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_nmnist(ev[:, 0], ev[:, 1], ev[:, 2], ev[:, 3]))
        paths.append(path)
    return paths


def write_shd(data_dir: str | Path, split: str, samples: Sequence[tuple[np.ndarray, np.ndarray, int]],
              speakers: Sequence[int] | None = None) -> Path:
    """samples: (times_s float, units int, label) -> SHD/shd_<split>.h5 in the published schema."""
    import h5py

    folder = Path(data_dir) / "SHD"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shd_{split}.h5"
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float32)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        words = [f"digit-{k}".encode() for k in range(20)]
        f.create_dataset("extra/keys", data=np.array(words))
        f.create_dataset("extra/speaker", data=np.array(speakers if speakers is not None else [0] * len(samples),
                                                         dtype=np.uint16))
    return path


def write_dvsgesture(data_dir: str | Path, split: str, samples: Sequence[tuple[np.ndarray, int]],
                     user: int = 1, lighting: str = "led") -> list[Path]:
    """samples: (events [N, 4] columns x, y, p, t_ms, label) -> DVSGesture/<folder>/user<NN>_<lighting>/<label>.npy.

    tonic names each file by its label, so one user folder holds one recording per label; samples
    beyond that go to the next user number.
    """
    base = Path(data_dir) / "DVSGesture" / ("ibmGestureTrain" if split == "train" else "ibmGestureTest")
    paths: list[Path] = []
    used: dict[int, set[int]] = {}
    for ev, label in samples:
        u = user
        while int(label) in used.setdefault(u, set()):
            u += 1
        used[u].add(int(label))
        path = base / f"user{u:02d}_{lighting}" / f"{int(label)}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(ev, dtype=np.float64))
        paths.append(path)
    return paths

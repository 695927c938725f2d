"""Spoken digits made offline with Debian's ``espeak-ng``, encoded by the cochlea front end.

The ten English digits ("zero" .. "nine") are spoken by every espeak-ng voice variant
(``espeak-ng --voices=variant``: ~100 characters such as ``Alex``, ``f3``, ``klatt2``) over several
English accents, each utterance with its own pitch and speed drawn from a seeded generator.
The split is by voice: a fixed fraction of the variants (chosen by a fixed seed) is held out,
so the test set contains only voices never heard in training.

Each waveform (espeak-ng's 22050 Hz, low-passed and decimated to 11025 Hz) is trimmed of
leading/trailing silence, cut or zero-padded to ``duration`` seconds and turned into spikes
``[T, channels * neurons_per_channel]`` by :func:`spikeflow.encoding.cochlea` (filters up to
~5 kHz, where the voices' formants are). Both splits are cached on disk (``torch.save`` of uint8
spikes, read back with ``weights_only=True``) in a folder whose name hashes every setting.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import DataNotFoundError, DatasetInfo, TensorSet, check_limit, check_split

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-029")
SAMPLE_RATE = 22050  # espeak-ng's output
RATE = SAMPLE_RATE // 2  # what the cochlea sees
SPLIT_SEED = 0
SPLITS = ("train", "test")
logger = logging.getLogger("spikeflow.data")


@dataclass(frozen=True)
class SpokenDigitsConfig:
    """Every setting that changes the generated data (its hash names the cache folder)."""

    accents: tuple[str, ...] = ACCENTS
    renditions: int = 2  # utterances per (accent, variant, digit), each with its own pitch/speed
    pitch: tuple[int, int] = (25, 75)  # espeak-ng -p range (0..99)
    speed: tuple[int, int] = (130, 230)  # espeak-ng -s range, words per minute
    test_fraction: float = 0.2  # fraction of variants held out for the test split
    duration: float = 0.8  # seconds kept after trimming silence
    channels: int = 32
    dt: float = 0.01
    neurons_per_channel: int = 2
    gain: float = 3.0
    tau_mem: float = 0.02
    max_variants: int | None = None  # keep only the first N variants (sorted), for tests

    def key(self, version: str) -> str:
        text = json.dumps({**asdict(self), "espeak": version}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def espeak_path() -> str | None:
    """The espeak-ng executable, or None when it is not installed."""
    return shutil.which("espeak-ng")


def _need_espeak() -> str:
    exe = espeak_path()
    if exe is None:
        raise DataNotFoundError(
            "spoken-digits needs Debian's espeak-ng to synthesise speech: apt-get install -y espeak-ng"
        )
    return exe


def espeak_version() -> str:
    out = subprocess.run([_need_espeak(), "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def variants() -> list[str]:
    """espeak-ng's voice variants (sorted, case-insensitive)."""
    out = subprocess.run([_need_espeak(), "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("!v/"):
            names.append(cols[4][3:])
    return sorted(set(names), key=str.lower)


def voice_split(names: Sequence[str], test_fraction: float) -> tuple[list[str], list[str]]:
    """(train variants, test variants): a fixed-seed shuffle, the first ``test_fraction`` to test."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    order = sorted(names, key=str.lower)
    random.Random(SPLIT_SEED).shuffle(order)
    n_test = max(1, round(test_fraction * len(order)))
    if n_test >= len(order):
        raise ValueError(f"test_fraction: leaves no training voice among {len(order)} variants")
    return sorted(order[n_test:], key=str.lower), sorted(order[:n_test], key=str.lower)


def synthesize(text: str, voice: str, pitch: int, speed: int) -> Tensor:
    """One utterance from espeak-ng: float32 waveform [samples] in [-1, 1] at SAMPLE_RATE Hz."""
    exe = _need_espeak()
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", tmp.name, text],
                       check=True, capture_output=True)
        with wave.open(io.BytesIO(Path(tmp.name).read_bytes())) as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise RuntimeError(f"espeak-ng: expected 16-bit mono WAV, got {w.getsampwidth() * 8}-bit, "
                                   f"{w.getnchannels()} channel(s)")
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"espeak-ng: expected {SAMPLE_RATE} Hz output, got {rate} Hz")
    return torch.from_numpy(np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0)


def trim_and_fit(wave_: Tensor, samples: int, floor: float = 0.02) -> Tensor:
    """Drop leading/trailing samples below ``floor`` x peak, then cut or zero-pad to ``samples``."""
    loud = (wave_.abs() >= floor * wave_.abs().max().clamp_min(1e-12)).nonzero()
    if len(loud):
        wave_ = wave_[int(loud[0]) : int(loud[-1]) + 1]
    out = wave_.new_zeros(samples)
    out[: min(samples, len(wave_))] = wave_[:samples]
    return out


def decimate2(waves: Tensor, taps: int = 63) -> Tensor:
    """[N, S] at SAMPLE_RATE -> [N, ceil(S/2)] at RATE: windowed-sinc low-pass (cutoff 0.45 RATE), every 2nd sample."""
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    cutoff = 0.45 * RATE / SAMPLE_RATE  # cycles per input sample
    h = 2 * cutoff * torch.sinc(2 * cutoff * n) * torch.hamming_window(taps, periodic=False, dtype=torch.float64)
    h = (h / h.sum()).float()
    y = torch.nn.functional.conv1d(waves[:, None], h.flip(0)[None, None], padding=taps // 2)[:, 0]
    return y[:, ::2].contiguous()


def _plan(cfg: SpokenDigitsConfig, voices: Sequence[str]) -> list[tuple[str, int, int, int, str]]:
    """(voice spec, pitch, speed, label, variant) per utterance, pitch/speed drawn per utterance."""
    rows = []
    for variant in voices:
        for accent in cfg.accents:
            for label, word in enumerate(WORDS):
                for r in range(cfg.renditions):
                    seed = int(hashlib.sha1(f"{accent}+{variant}/{word}/{r}".encode()).hexdigest()[:8], 16)
                    rng = random.Random(seed)
                    rows.append((f"{accent}+{variant}", rng.randint(*cfg.pitch), rng.randint(*cfg.speed), label,
                                 variant))
    return rows


def _encode(waves: Tensor, cfg: SpokenDigitsConfig) -> Tensor:
    from ..encoding_cochlea import cochlea

    out = []
    for k in range(0, waves.shape[0], 64):
        out.append(cochlea(decimate2(waves[k : k + 64]), RATE, channels=cfg.channels, dt=cfg.dt, gain=cfg.gain,
                           tau_mem=cfg.tau_mem, neurons_per_channel=cfg.neurons_per_channel).to(torch.uint8))
    return torch.cat(out, 1).transpose(0, 1).contiguous()  # [N, T, F]


def build(cfg: SpokenDigitsConfig, folder: Path, workers: int = 2) -> None:
    """Synthesise, encode and save both splits into ``folder`` (train.pt, test.pt, info.json)."""
    names = variants()
    if cfg.max_variants is not None:
        names = names[: cfg.max_variants]
    train_v, test_v = voice_split(names, cfg.test_fraction)
    samples = int(round(cfg.duration * SAMPLE_RATE))
    folder.mkdir(parents=True, exist_ok=True)
    for split, voices in (("train", train_v), ("test", test_v)):
        plan = _plan(cfg, voices)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            waves = list(pool.map(lambda row: trim_and_fit(synthesize(WORDS[row[3]], row[0], row[1], row[2]),
                                                           samples), plan))
        logger.info("spoken-digits: %d %s utterances synthesised; encoding", len(plan), split)
        spikes = _encode(torch.stack(waves), cfg)
        record = {
            "spikes": spikes,
            "labels": torch.tensor([row[3] for row in plan], dtype=torch.int64),
            "voice": torch.tensor([voices.index(row[4]) for row in plan], dtype=torch.int64),
        }
        tmp = folder / f".{split}.pt.tmp"
        torch.save(record, tmp)
        tmp.replace(folder / f"{split}.pt")
    info = {"config": asdict(cfg), "espeak": espeak_version(), "train_voices": train_v, "test_voices": test_v}
    (folder / "info.json").write_text(json.dumps(info, indent=1))


def default_cache_root() -> Path:
    return Path.home() / ".cache" / "spikeflow"


def spoken_digits(split: str = "train", *, data_dir: str | Path | None = None, limit: int | None = None,
                  config: SpokenDigitsConfig | None = None, **overrides: object) -> TensorSet:
    """The ``"train"`` or ``"test"`` split (held-out voices) as (spikes float32 [T, F], label) samples.

    Generated with espeak-ng on first use and cached under ``data_dir`` (default
    ``~/.cache/spikeflow``) in ``spoken_digits-<hash of the settings>/``. ``overrides`` replace
    fields of :class:`SpokenDigitsConfig` (e.g. ``renditions=1``). Without espeak-ng and without a
    cache: :class:`DataNotFoundError` saying how to install it.
    """
    check_split(split, SPLITS)
    limit = check_limit(limit)
    cfg = config or SpokenDigitsConfig()
    if overrides:
        unknown = set(overrides) - set(asdict(cfg))
        if unknown:
            raise TypeError(f"spoken_digits: unknown setting(s) {sorted(unknown)}; known: {sorted(asdict(cfg))}")
        cfg = SpokenDigitsConfig(**{**asdict(cfg), **overrides})  # type: ignore[arg-type]
    root = Path(data_dir) if data_dir is not None else default_cache_root()
    folder = root / f"spoken_digits-{cfg.key(espeak_version())}"
    if not (folder / f"{split}.pt").exists():
        build(cfg, folder)
    record = torch.load(folder / f"{split}.pt", weights_only=True)
    x, y = record["spikes"].float(), record["labels"]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    info = DatasetInfo(name="spoken-digits", split=split, num_classes=10, sample_shape=tuple(x.shape[1:]),
                       time_major=True, dt_s=cfg.dt, classes=WORDS)
    return TensorSet(x, y, info=info)

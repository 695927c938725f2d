"""The run folder (``--out``): checked before training, never silently overwritten."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from .checkpoint import CHECKPOINT_NAME, METRICS_NAME, _open_new, _temp_name, previous_path

RUN_FILES = (CHECKPOINT_NAME, previous_path(CHECKPOINT_NAME).name, METRICS_NAME)


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create ``out_dir`` and prove it writable (before any training), or raise ValueError."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"out: {str(folder)!r} is a file, expected a folder for the run's files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = _temp_name(folder / "write-test")
        os.close(_open_new(probe))
        probe.unlink()
    except OSError as err:
        raise ValueError(f"out: cannot write into {str(folder)!r} ({err.strerror or err})") from err
    return folder


def prepare_run_dir(out_dir: str | os.PathLike[str], *, resume: bool, overwrite: bool) -> Path:
    """Check ``out_dir`` before a run: writable, and not holding another run unless asked.

    A folder that holds a run (checkpoint or metrics.json) is refused unless ``resume``
    (continue it) or ``overwrite`` (its checkpoints and metrics are deleted first, so no stale
    checkpoint can be picked up later).
    """
    if resume and overwrite:
        raise ValueError("overwrite: cannot be combined with resume (continue the run, or replace it)")
    folder = check_out_dir(out_dir)
    existing = [name for name in RUN_FILES if (folder / name).exists()]
    if existing and not resume:
        if not overwrite:
            raise ValueError(f"out: {str(folder)!r} already holds a run ({', '.join(existing)}); pass --resume to "
                             "continue it, --overwrite to replace it, or choose another --out")
        for name in existing:
            with suppress(FileNotFoundError):
                (folder / name).unlink()
    return folder

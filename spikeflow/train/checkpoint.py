"""Atomic, checksummed checkpoint files and atomic JSON files.

A file is written to a temporary name in the same folder (``.NAME.<random>.tmp``, created
with the process umask, so 0644 under the usual 022), flushed and fsynced, then moved over
the target with ``os.replace``: a crash leaves either the old file or the new one, never a
partial one. Temporary files left by a process killed during a save are removed by
:func:`remove_stale_temp_files` (the Trainer calls it when a run starts).

A checkpoint file is a one-line header followed by the ``torch.save`` payload::

    SPIKEFLOW-CHECKPOINT 1 sha256=<64 hex digits> bytes=<payload length>\\n<payload>

:func:`load_checkpoint` checks the header, the length and the SHA-256 of the payload before it
reads anything with ``torch.load(weights_only=True)`` (tensors and plain Python values only,
never pickled objects). Every problem raises :class:`CheckpointError` (a ``ValueError``)
naming the file and what is wrong. :func:`save_checkpoint` keeps the previous checkpoint as
``<stem>.prev<suffix>``; :func:`load_latest_checkpoint` falls back to it, with a warning, when the
newest one is damaged.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import zipfile
from contextlib import suppress
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import torch

logger = logging.getLogger("spikeflow.train")

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
MAGIC = b"SPIKEFLOW-CHECKPOINT"
FORMAT_VERSION = 1
_HEADER = re.compile(rb"^SPIKEFLOW-CHECKPOINT (\d+) sha256=([0-9a-f]{64}) bytes=(\d+)\n")
_MAX_HEADER = 200


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: the message names the file and the problem."""


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_name(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"


def _open_new(path: Path) -> int:
    """Create ``path`` exclusively, mode 0666 minus the umask (like ``open(..., 'x')``)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    The file gets the permissions of any newly created file (0666 minus the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(target)
    fd = _open_new(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return target


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete ``.NAME.<random>.tmp`` files that a process killed during a save left in ``folder``.

    Call it only when no other process writes into ``folder``. Returns the removed paths.
    """
    removed: list[Path] = []
    base = Path(folder)
    if not base.is_dir():
        return removed
    for path in base.glob(".*.tmp"):
        if re.fullmatch(r"\..+\.[0-9a-f]{12}\.tmp", path.name) and path.is_file():
            with suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    if removed:
        logger.warning("removed %d temporary file(s) left by an interrupted save in %s", len(removed), base)
    return removed


def previous_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`save_checkpoint` keeps the checkpoint it replaced: ``checkpoint.prev.pt``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.prev{p.suffix}")


def encode_checkpoint(checkpoint: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file: header (format, SHA-256, length) + ``torch.save`` payload."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f"checkpoint: expected a dict, got {type(checkpoint).__name__}")
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    header = b"%s %d sha256=%s bytes=%d\n" % (MAGIC, FORMAT_VERSION, digest.encode(), len(payload))
    return header + payload


def save_checkpoint(path: str | os.PathLike[str], checkpoint: dict[str, Any], keep_previous: bool = True) -> Path:
    """Write ``checkpoint`` (tensors and plain values) atomically, with a checksum.

    With ``keep_previous`` the file it replaces stays as :func:`previous_path` (the last two
    checkpoints are kept). At every instant ``path`` holds a complete checkpoint.
    """
    data = encode_checkpoint(checkpoint)  # serialize first: a failure here touches no file
    target = Path(path)
    prev = previous_path(target)
    if keep_previous and target.is_file() and not (prev.exists() and os.path.samefile(target, prev)):
        tmp = _temp_name(prev)
        try:
            try:
                os.link(target, tmp)  # the old checkpoint, a second name (no copy)
            except OSError:
                shutil.copyfile(target, tmp)
            os.replace(tmp, prev)
        finally:
            # rename() between two names of one file does nothing; never leave the temp name behind
            with suppress(FileNotFoundError):
                os.unlink(tmp)
    return atomic_write(target, lambda f: f.write(data))


def _fail(source: Path, what: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {str(source)!r}: {what}")


def decode_checkpoint(data: bytes, source: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Check and read the bytes of a checkpoint file (see the module docstring)."""
    if len(data) == 0:
        raise _fail(source, "the file is empty (0 bytes): a save was interrupted or the disk is full")
    if data.startswith(MAGIC):
        match = _HEADER.match(data[:_MAX_HEADER])
        if match is None:
            line = data[:_MAX_HEADER].split(b"\n")[0][:120]
            raise _fail(source, f"damaged header {line!r} (truncated or altered)")
        version, digest, length = int(match.group(1)), match.group(2).decode(), int(match.group(3))
        if version != FORMAT_VERSION:
            raise _fail(source, f"format version {version}, this spikeflow reads version {FORMAT_VERSION}")
        payload = data[match.end():]
        if len(payload) != length:
            kind = "truncated" if len(payload) < length else "has extra bytes at the end"
            raise _fail(source, f"{kind}: the header promises {length} payload bytes, the file holds {len(payload)}")
        actual = hashlib.sha256(payload).hexdigest()
        if actual != digest:
            raise _fail(source, f"checksum mismatch (sha256 {actual[:16]}..., header says {digest[:16]}...): "
                                "the file is corrupted")
    elif data.startswith(b"PK\x03\x04"):
        # A plain torch.save file (older spikeflow, or another tool): readable, not verifiable.
        payload = data
        logger.warning("checkpoint %s has no spikeflow header: loading it without a checksum", source)
    else:
        raise _fail(source, f"not a spikeflow checkpoint (starts with {data[:16]!r}, expected {MAGIC!r})")
    try:
        obj = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - every reader error becomes one clear message
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise _fail(source, f"holds pickled Python objects, refused by torch.load(weights_only=True): {first}") \
                from err
        if isinstance(err, (zipfile.BadZipFile, RuntimeError, EOFError)):
            raise _fail(source, f"unreadable torch payload ({type(err).__name__}: {first})") from err
        raise _fail(source, f"unreadable ({type(err).__name__}: {first})") from err
    if not isinstance(obj, dict):
        raise _fail(source, f"holds a {type(obj).__name__}, expected a checkpoint dict")
    return obj


def load_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", required: Iterable[str] = ()
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (safe: ``weights_only=True``).

    Raises FileNotFoundError when there is no file, :class:`CheckpointError` (a ValueError)
    naming the file and the problem when it is damaged, foreign or lacks a ``required`` key.
    """
    source = Path(path)
    if source.is_dir():
        raise _fail(source, "is a folder, expected a checkpoint file")
    if not source.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {str(source)!r}")
    try:
        data = source.read_bytes()
    except OSError as err:
        raise _fail(source, f"cannot be read ({err.strerror or err})") from err
    checkpoint = decode_checkpoint(data, source, map_location)
    missing = [key for key in required if key not in checkpoint]
    if missing:
        raise _fail(source, f"is not a spikeflow training checkpoint: missing {missing} "
                            f"(it has {sorted(map(str, checkpoint))[:8]})")
    return checkpoint


def load_latest_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", required: Iterable[str] = ()
) -> tuple[dict[str, Any], Path]:
    """Load ``path``, or, when it is missing or damaged, the previous checkpoint (with a warning).

    Returns (checkpoint, the file it came from). Raises FileNotFoundError when neither exists and
    CheckpointError naming both files when neither is usable.
    """
    required = tuple(required)
    newest, prev = Path(path), previous_path(path)
    try:
        return load_checkpoint(newest, map_location, required), newest
    except (CheckpointError, FileNotFoundError) as err:
        if not prev.is_file():
            raise
        first_error = err
    logger.warning("%s; falling back to the previous checkpoint %s", first_error, prev)
    try:
        return load_checkpoint(prev, map_location, required), prev
    except CheckpointError as err:
        raise CheckpointError(f"no usable checkpoint: {first_error}; and {err}") from err


def write_json(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))

"""Damaged, foreign and interrupted checkpoints: a clear error naming the file, or a safe fallback."""

from __future__ import annotations

import logging
import os
import random
import stat
import zipfile
from pathlib import Path

import pytest
import torch

from spikeflow.train.checkpoint import (
    CheckpointError,
    atomic_write,
    encode_checkpoint,
    load_checkpoint,
    load_latest_checkpoint,
    previous_path,
    remove_stale_temp_files,
    save_checkpoint,
    write_json,
)

REQUIRED = ("epoch", "model")


def _state(epoch: int = 1) -> dict:
    g = torch.Generator().manual_seed(epoch)
    return {"epoch": epoch, "model": {"w": torch.randn(64, 32, generator=g), "b": torch.zeros(32)}}


def _weight_offset(data: bytes) -> int:
    """Byte offset, inside the file, of the weight tensor ``w``'s storage (a 8 KiB block)."""
    header_end = data.index(b"\n") + 1
    payload = data[header_end:]
    with zipfile.ZipFile(__import__("io").BytesIO(payload)) as z:
        infos = [i for i in z.infolist() if "/data/" in i.filename]
        big = max(infos, key=lambda i: i.file_size)
    # the local file header is 30 bytes + name + extra field; storage bytes follow it
    name_len = int.from_bytes(payload[big.header_offset + 26:big.header_offset + 28], "little")
    extra_len = int.from_bytes(payload[big.header_offset + 28:big.header_offset + 30], "little")
    return header_end + big.header_offset + 30 + name_len + extra_len


def _flip(data: bytes, start: int, count: int) -> bytes:
    out = bytearray(data)
    for i in range(start, start + count):
        out[i] ^= 0xA5
    return bytes(out)


def _foreign_zip() -> bytes:
    import io

    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(2)}}, buf)  # someone else's torch.save file
    return buf.getvalue()


def _pickled_object_with_valid_checksum() -> bytes:
    import hashlib
    import io

    buf = io.BytesIO()
    torch.save({"epoch": 1, "model": random.Random(0)}, buf)  # an arbitrary object: never unpickled
    payload = buf.getvalue()
    return b"SPIKEFLOW-CHECKPOINT 1 sha256=%s bytes=%d\n" % (hashlib.sha256(payload).hexdigest().encode(),
                                                               len(payload)) + payload


def _with_header(payload: bytes, version: int = 1) -> bytes:
    import hashlib

    return b"SPIKEFLOW-CHECKPOINT %d sha256=%s bytes=%d\n" % (version, hashlib.sha256(payload).hexdigest().encode(),
                                                               len(payload)) + payload


def _tensor_payload() -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(torch.ones(3), buf)
    return buf.getvalue()


GOOD = encode_checkpoint(_state())
HEADER_LEN = GOOD.index(b"\n") + 1

# (name, bytes of the damaged file, what the error must say)
CORRUPTIONS = [
    ("empty file", lambda: b"", "empty"),
    ("cut inside the header", lambda: GOOD[:30], "damaged header"),
    ("cut after the header", lambda: GOOD[:HEADER_LEN], "truncated"),
    ("cut in half", lambda: GOOD[: len(GOOD) // 2], "truncated"),
    ("last byte missing", lambda: GOOD[:-1], "truncated"),
    ("bytes appended", lambda: GOOD + b"\0" * 100, "extra bytes"),
    ("64 flipped bytes inside a weight", lambda: _flip(GOOD, _weight_offset(GOOD) + 512, 64), "checksum mismatch"),
    ("one flipped bit in the payload", lambda: _flip(GOOD, len(GOOD) - 100, 1), "checksum mismatch"),
    ("a block of zeros (torn write)", lambda: GOOD[:HEADER_LEN + 200] + b"\0" * 4096 + GOOD[HEADER_LEN + 4296:],
     "checksum mismatch"),
    ("altered checksum in the header", lambda: GOOD[:40] + (b"0" if GOOD[40:41] != b"0" else b"1") + GOOD[41:],
     "checksum mismatch"),
    ("altered length in the header", lambda: GOOD.replace(b" bytes=", b" bytes=1", 1), "truncated"),
    ("newer format version", lambda: _with_header(GOOD[HEADER_LEN:], version=9), "format version 9"),
    ("text file", lambda: b'{"epoch": 3}\n', "not a spikeflow checkpoint"),
    ("random bytes", lambda: bytes(random.Random(1).getrandbits(8) for _ in range(4096)), "not a spikeflow checkpoint"),
    ("foreign torch.save file", _foreign_zip, "missing ['epoch', 'model']"),
    ("headerless torch file cut short", lambda: _foreign_zip()[:300], "unreadable"),
    ("pickled object behind a valid checksum", _pickled_object_with_valid_checksum, "pickled Python objects"),
    ("valid checksum, payload not a dict", lambda: _with_header(_tensor_payload()), "expected a checkpoint dict"),
    ("valid checksum, garbage payload", lambda: _with_header(b"PK\x03\x04" + b"x" * 200), "unreadable"),
]


@pytest.mark.parametrize("name,make,message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_damaged_checkpoint_gives_a_clear_error(tmp_path, name, make, message):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(make())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, required=REQUIRED)
    text = str(info.value)
    assert str(path) in text and message in text, text
    assert "\n" not in text  # one line, no traceback dump


def test_the_table_covers_at_least_twelve_kinds():
    assert len(CORRUPTIONS) >= 12


def test_a_folder_in_place_of_the_file_is_named(tmp_path):
    (tmp_path / "checkpoint.pt").mkdir()
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_good_checkpoint_round_trips_bit_exactly(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.pt", _state(3))
    loaded = load_checkpoint(path, required=REQUIRED)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], _state(3)["model"]["w"])
    assert path.read_bytes().startswith(b"SPIKEFLOW-CHECKPOINT 1 sha256=")


def test_headerless_torch_checkpoint_still_loads_with_a_warning(tmp_path, caplog):
    path = tmp_path / "old.pt"
    torch.save(_state(2), path)  # written by an older spikeflow (plain torch.save)
    with caplog.at_level(logging.WARNING, logger="spikeflow.train"):
        assert load_checkpoint(path, required=REQUIRED)["epoch"] == 2
    assert "without a checksum" in caplog.text


def test_the_last_two_checkpoints_are_kept(tmp_path):
    path = tmp_path / "checkpoint.pt"
    for epoch in (1, 2, 3):
        save_checkpoint(path, _state(epoch))
    assert load_checkpoint(path)["epoch"] == 3
    assert load_checkpoint(previous_path(path))["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_damaged_newest_falls_back_to_the_previous_with_a_warning(tmp_path, caplog):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    path.write_bytes(path.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING, logger="spikeflow.train"):
        checkpoint, source = load_latest_checkpoint(path, required=REQUIRED)
    assert checkpoint["epoch"] == 1 and source == previous_path(path)
    assert "truncated" in caplog.text and "falling back" in caplog.text
    previous_path(path).write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint.*truncated.*empty"):
        load_latest_checkpoint(path, required=REQUIRED)


def test_missing_newest_after_a_kill_between_renames_falls_back(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    path.unlink()
    assert load_latest_checkpoint(path)[0]["epoch"] == 1
    previous_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="checkpoint.pt"):
        load_latest_checkpoint(path)


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path):
    keep = [tmp_path / "checkpoint.pt", tmp_path / ".hidden.tmp", tmp_path / "notes.tmp"]
    for p in keep:
        p.write_bytes(b"x")
    stale = [tmp_path / ".checkpoint.pt.0123456789ab.tmp", tmp_path / ".metrics.json.a1b2c3d4e5f6.tmp"]
    for p in stale:
        p.write_bytes(b"half" * 1000)
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(keep)


def test_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        paths = [save_checkpoint(tmp_path / "checkpoint.pt", _state()), write_json(tmp_path / "m.json", {"a": 1}),
                 atomic_write(tmp_path / "x.bin", lambda f: f.write(b"1"))]
        save_checkpoint(tmp_path / "checkpoint.pt", _state(2))
        paths.append(previous_path(tmp_path / "checkpoint.pt"))
    finally:
        os.umask(old)
    for p in paths:
        assert stat.S_IMODE(Path(p).stat().st_mode) == 0o644, p


def test_save_after_a_kill_between_link_and_write_leaves_no_temp(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    os.link(path, previous_path(path))  # what a kill right after keeping the previous one leaves
    save_checkpoint(path, _state(2))
    assert load_checkpoint(previous_path(path))["epoch"] == 1 and load_checkpoint(path)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]

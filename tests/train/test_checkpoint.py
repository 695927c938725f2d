"""Checkpoints: atomic writes, safe loads, every RNG restored."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from spikeflow.train import get_rng_state, load_checkpoint, save_checkpoint, seed_everything, set_rng_state, write_json


def test_round_trip_with_weights_only(tmp_path):
    state = {"epoch": 3, "model": {"w": torch.arange(4.0)}, "rng": get_rng_state(torch.Generator().manual_seed(1))}
    path = save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])


def test_crash_during_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    old_bytes = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")  # a partial write, then the process "dies"
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temp file left behind


def test_unserializable_metrics_leave_the_old_file(tmp_path):
    path = write_json(tmp_path / "metrics.json", {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})  # not serializable: fails before anything is replaced
    assert path.read_text().strip().startswith("{") and '"a": 1' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": random.Random(0)}, path)  # an arbitrary Python object, not weights
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        load_checkpoint(path)


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_rng_state_restores_torch_numpy_python_and_generator(tmp_path):
    gen = seed_everything(7)
    state = get_rng_state(gen)
    save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    expected = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=gen))
    seed_everything(8, gen)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], gen)
    got = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=gen))
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2] == got[2] and torch.equal(expected[3], got[3])


def test_seed_rejects_bad_values():
    with pytest.raises(TypeError, match="seed"):
        seed_everything(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)

"""``spikeflow train nmnist|shd|dvsgesture --data-dir DIR``: runs on tiny files in tonic's formats,
and without the data exits with one line saying how to get it (no traceback, no download)."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("tonic")

from spikeflow.cli import main  # noqa: E402
from spikeflow.data import tonic_files as TF  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("events")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        nm = [(np.stack([rng.integers(0, 34, 40), rng.integers(0, 34, 40), np.sort(rng.integers(0, 300_000, 40)),
                         rng.integers(0, 2, 40)], 1), k % 10) for k in range(4)]
        TF.write_nmnist(d, split, nm)
        TF.write_shd(d, split, [(np.sort(rng.uniform(0, 0.3, 30)), rng.integers(0, 700, 30), k) for k in range(3)])
        dvs = [(np.stack([rng.integers(0, 128, 60), rng.integers(0, 128, 60), rng.integers(0, 2, 60),
                          np.sort(rng.uniform(0, 300, 60))], 1), k) for k in (0, 4, 10)]
        TF.write_dvsgesture(d, split, dvs)
    return d


@pytest.mark.parametrize("task,extra", [
    ("nmnist", ["--time-bins", "5", "--denoise", "20000"]),
    ("shd", ["--time-window", "50000", "--max-shift", "3"]),
    ("dvsgesture", ["--time-window", "100000", "--refractory", "1000", "--drop", "0.1"]),
])
def test_one_epoch_runs_on_tonic_files(tiny, tmp_path, task, extra, capsys):
    out = tmp_path / task
    with mock.patch("tonic.dataset.download_and_extract_archive", side_effect=AssertionError("download")):
        code = main(["train", task, "--data-dir", str(tiny), "--epochs", "1", "--hidden", "8", "--batch-size", "2",
                     "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--threads", "1",
                     *extra])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == task and len(metrics["history"]) == 1
    assert metrics["train_samples"] == {"nmnist": 4, "shd": 3, "dvsgesture": 3}[task]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and np.isfinite(metrics["history"][0]["train_loss"])
    assert any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("task", ["nmnist", "shd", "dvsgesture"])
def test_missing_data_is_one_line_and_exit_code_1(tmp_path, task, capsys):
    with mock.patch("tonic.dataset.download_and_extract_archive", side_effect=AssertionError("download")):
        code = main(["train", task, "--data-dir", str(tmp_path / "none"), "--epochs", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "not found" in err and "tonic.datasets." in err


def test_data_dir_is_required(capsys):
    assert main(["train", "shd", "--epochs", "1"]) == 2
    assert "--data-dir" in capsys.readouterr().err

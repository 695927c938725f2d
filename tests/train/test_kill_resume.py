"""``spikeflow train digits`` killed with SIGKILL at several points, then resumed: the result is
bit-identical to an uninterrupted run. Also: the run folder rules and the schedule on resume."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from train_helpers import child_env, without_time  # noqa: E402

from spikeflow.cli import main  # noqa: E402
from spikeflow.train import load_checkpoint  # noqa: E402

HERE = Path(__file__).parent
SMALL = ["--limit", "64", "--steps", "3", "--hidden", "16", "--batch-size", "16", "--no-progress"]
EPOCHS = ["--epochs", "3"]  # 4 batches per epoch, 3 checkpoints


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("straight")
    assert main(["train", "digits", *SMALL, *EPOCHS, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("point,n", [("batch", 7), ("save-mid", 2), ("save-rename", 2),
                                     ("after-save", 3)])
def test_sigkill_then_resume_is_bit_identical(straight, tmp_path, point, n):
    out = tmp_path / "run"
    cmd = [sys.executable, str(HERE / "kill_child.py"), point, str(n), "--", "train", "digits", *SMALL, *EPOCHS,
           "--out", str(out)]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert not (out / "metrics.json").exists() or point == "after-save"
    if point == "save-mid":
        assert list(out.glob(".checkpoint.pt.*.tmp")), "the kill should have left a half-written temp file"
    if point == "after-save":  # killed after the last checkpoint, before metrics.json: nothing left to train
        (out / "metrics.json").unlink(missing_ok=True)
    assert main(["train", "digits", *SMALL, *EPOCHS, "--out", str(out), "--resume"]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (straight, out))
    assert without_time(a) == without_time(b)
    wa, wb = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (straight, out))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not list(out.glob(".*.tmp"))  # the temp file of the killed save is gone
    assert stat.S_IMODE((out / "checkpoint.pt").stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_existing_run_is_refused_unless_resume_or_overwrite(straight, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "digits", *SMALL, "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    before = (out / "metrics.json").read_bytes()
    assert main(args) == 1
    assert "already holds a run" in capsys.readouterr().err and (out / "metrics.json").read_bytes() == before
    assert main([*args, "--overwrite"]) == 0
    assert main([*args, "--overwrite", "--resume"]) == 1


def test_a_file_as_out_fails_before_training(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["train", "digits", *SMALL, "--epochs", "1", "--out", str(target)]) == 1
    assert "is a file" in capsys.readouterr().err


def test_resume_with_changed_options_is_refused(straight, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "digits", *SMALL, "--epochs", "1", "--out", str(out)]) == 0
    changed = [a if a != "16" else "32" for a in SMALL]  # --hidden 32 --batch-size 32
    assert main(["train", "digits", *changed, "--epochs", "2", "--out", str(out), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "options differ" in err and "hidden: 16 -> 32" in err


def test_more_epochs_on_resume_continue_the_cosine_downward(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "digits", *SMALL, "--epochs", "2", "--out", str(out)]) == 0
    assert main(["train", "digits", *SMALL, "--epochs", "4", "--out", str(out), "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    lrs = [h["lr"] for h in metrics["history"]]
    assert len(lrs) == 4 and all(b <= a for a, b in zip(lrs, lrs[1:], strict=False)), lrs
    # epochs 1-2 on the 2-epoch cosine (0.01, 0.005), epochs 3-4 on the 4-epoch one (0.005, 0.00146)
    assert lrs == pytest.approx([0.01, 0.005, 0.005, 0.01 * (1 - 2 ** -0.5) / 2])
    assert metrics["plan"] == [{"from_epoch": 1, "epochs": 2}, {"from_epoch": 3, "epochs": 4}]
    assert main(["train", "digits", *SMALL, "--epochs", "3", "--out", str(out), "--resume"]) == 1  # fewer: refused

"""``spikeflow train shd --distributed`` under torchrun (2 CPU processes, gloo) takes the same steps as
one process on the same global batches; --distributed is refused where it cannot work. Every
multi-process run has a timeout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")

from train_helpers import child_env  # noqa: E402

TIMEOUT = 240  # seconds for the whole 2-process run: a hung collective fails the test
# 8 recordings per split of 1..30 frames: each rank pads its own half of a global batch of 4
SHD_SMALL = ["--hidden", "12", "--batch-size", "4", "--epochs", "2", "--time-window", "10000", "--threads", "1",
             "--lr", "0.01", "--no-progress"]


@pytest.fixture(scope="module")
def shd_dir(tmp_path_factory):
    pytest.importorskip("h5py")
    from task_data import write_tiny_tonic

    return write_tiny_tonic(tmp_path_factory.mktemp("events"), samples=8)


def torchrun(argv: list[str], out) -> None:
    """``spikeflow train *argv --distributed --out out`` in 2 CPU processes (gloo), with a timeout."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "spikeflow",
           "train", *argv, "--distributed", "--out", str(out)]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]


def in_process(argv: list[str], out, monkeypatch) -> None:
    """``spikeflow train *argv --out out`` in this process (one replica), torch's thread count kept."""
    from spikeflow.cli import main

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    torch_threads = torch.get_num_threads()
    try:
        assert main(["train", *argv, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(torch_threads)


def same_weights(two, one) -> dict:
    """The 2-process run's final weights equal the one-process run's (after 2 epochs); returns the latter."""
    from spikeflow.train import load_checkpoint

    got, want = (load_checkpoint(d / "checkpoint.pt") for d in (two, one))
    assert got["world_size"] == 2 and want["world_size"] == 1 and got["epoch"] == want["epoch"] == 2
    assert got["model"].keys() == want["model"].keys()
    for key, value in want["model"].items():
        torch.testing.assert_close(got["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    return want


def test_torchrun_shd_distributed_equals_one_process_on_the_global_batch(shd_dir, tmp_path, monkeypatch):
    from torch.utils.data import DataLoader

    from spikeflow.train import distributed as sfd

    two, one = tmp_path / "two", tmp_path / "one"
    torchrun(["shd", "--data-dir", str(shd_dir), *SHD_SMALL], two)
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt", "metrics.json"]

    # One process on the same global batches: DistributedSampler's rank r takes every 2nd index of
    # the epoch's permutation, so 2 ranks' k-th batches together are the permutation's k-th block of
    # 4, which is the k-th batch of a one-replica DistributedSampler with the same seed.
    def one_replica(train_set, test_set, batch_size, ctx, *, seed, collate_fn, **_):
        assert not ctx.distributed
        return (sfd.loader(train_set, batch_size, ctx, seed=seed, collate_fn=collate_fn),
                DataLoader(test_set, batch_size=256, collate_fn=collate_fn))

    monkeypatch.setattr(sfd, "task_loaders", one_replica)
    in_process(["shd", "--data-dir", str(shd_dir), *SHD_SMALL], one, monkeypatch)

    want = same_weights(two, one)
    # the check can fail: training moved the weights away from their (seeded, shared) start
    from spikeflow.tasks.tonic_tasks import RecurrentClassifier
    from spikeflow.train import seed_everything

    seed_everything(0)
    start = RecurrentClassifier(700, 12, 20).state_dict()
    assert start.keys() == want["model"].keys()
    assert not torch.allclose(start["fc_in.weight"], want["model"]["fc_in.weight"], atol=1e-4)


@pytest.mark.parametrize("argv,message", [
    (["shd", "--distributed"], "launch with torchrun"),
    (["spoken-digits", "--method", "eventprop", "--distributed"], "launch with torchrun"),
    (["yinyang", "--distributed"], "launch with torchrun"),
])
def test_task_distributed_refusals(shd_dir, tmp_path, capsys, monkeypatch, argv, message):
    from spikeflow.cli import main

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    data = [] if argv[0] == "yinyang" else ["--data-dir", str(shd_dir)]
    assert main(["train", *argv, *data, "--out", str(tmp_path / "run")]) == 1
    assert message in capsys.readouterr().err


YY_SMALL = ["--limit", "32", "--hidden", "32", "--batch-size", "8", "--epochs", "2", "--dt", "1.0", "--threads", "1",
            "--no-progress"]


@pytest.mark.parametrize("method", [["--method", "bptt"],  # eventprop: the silent-neuron bumps on the global batch
                                    ["--method", "eventprop", "--bump", "0.05", "--bump-output", "0.05"]])
def test_torchrun_yinyang_distributed_equals_one_process_on_the_global_batch(method, tmp_path, monkeypatch):
    from torch.utils.data import TensorDataset

    import spikeflow.tasks.yinyang as yy
    from spikeflow.train import TensorBatches, load_checkpoint
    from spikeflow.train import distributed as sfd

    two, one = tmp_path / "two", tmp_path / "one"
    torchrun(["yinyang", *method, *YY_SMALL], two)

    def one_replica(data, batch_size, ctx, seed):  # the same global batches as 2 DistributedSampler ranks
        assert not ctx.distributed
        return (sfd.loader(TensorDataset(*data["train"]), batch_size, ctx, seed=seed),
                TensorBatches(*data["validation"], batch_size=500), TensorBatches(*data["test"], batch_size=500))

    monkeypatch.setattr(yy, "batches", one_replica)
    in_process(["yinyang", *method, *YY_SMALL], one, monkeypatch)
    want = same_weights(two, one)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (two, one))
    for x, y in zip(a["history"], b["history"], strict=True):  # metrics summed over ranks: every sample once
        for key in ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "test_loss",
                    "test_accuracy"):
            assert x[key] == pytest.approx(y[key], rel=1e-5, abs=1e-7), key
    # the check can fail: epoch 2 moved the weights (checkpoint.prev.pt holds epoch 1's)
    before = load_checkpoint(one / "checkpoint.prev.pt")
    assert before["epoch"] == 1
    assert any(not torch.allclose(before["model"][k], v, atol=1e-4) for k, v in want["model"].items())


# a low --init-mean: sparse hidden firing, so the silent-neuron bump does happen (the test fails if
# each rank bumped on its own spikes)
SD_SMALL = ["--method", "eventprop", "--renditions", "1", "--max-variants", "2", "--accents", "en-us", "--hidden",
            "16", "--batch-size", "4", "--epochs", "2", "--threads", "1", "--no-progress", "--init-mean", "0.02"]


def test_torchrun_spoken_digits_eventprop_equals_one_process_on_the_global_batch(tmp_path, monkeypatch):
    import shutil

    from torch.utils.data import TensorDataset

    import spikeflow.train as sft
    from spikeflow.train import distributed as sfd
    from spikeflow.train import load_checkpoint

    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    data, two, one = tmp_path / "data", tmp_path / "two", tmp_path / "one"  # an empty cache: rank 0 generates it,
    torchrun(["spoken-digits", *SD_SMALL, "--data-dir", str(data)], two)  # rank 1 then reads it

    real = sft.TensorBatches

    def one_replica(x, y, *, batch_size, shuffle=False, generator=None):  # 2 ranks' global batches
        if not shuffle:
            return real(x, y, batch_size=batch_size)
        return sfd.loader(TensorDataset(x, y), batch_size, sfd.Context(), seed=0)

    monkeypatch.setattr(sft, "TensorBatches", one_replica)
    in_process(["spoken-digits", *SD_SMALL, "--data-dir", str(data)], one, monkeypatch)
    want = same_weights(two, one)
    before = load_checkpoint(one / "checkpoint.prev.pt")["model"]
    assert any(not torch.allclose(before[k], v, atol=1e-4) for k, v in want["model"].items())

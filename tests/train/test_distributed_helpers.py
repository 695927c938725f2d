"""The --distributed wiring shared by the CLI tasks, without a process group: samplers, loaders,
session, and the argument checks."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from spikeflow.train import distributed as sfd
from spikeflow.train.argtypes import device


def _batches(n: int, num: int, batch: int, world: int, epoch: int) -> list[list[list[int]]]:
    """[rank][step] -> the indices rank draws at that step."""
    out = []
    for rank in range(world):
        s = sfd.SubsetShardSampler(n, num, batch, rank, world, seed=3)
        s.set_epoch(epoch)
        flat, sizes = list(s), [len(share) for share in s._shares()]
        steps, k = [], 0
        for size in sizes:
            steps.append(flat[k:k + size])
            k += size
        out.append(steps)
    return out


@pytest.mark.parametrize("world", [2, 4])
def test_subset_shards_form_the_one_process_global_batches(world):
    one = _batches(50, 20, 8, 1, epoch=2)[0]  # 20 samples, global batch 8: steps of 8, 8, 4
    ranks = _batches(50, 20, 8, world, epoch=2)
    assert [len(r) for r in ranks] == [3] * world  # every rank runs the same number of steps
    for step in range(2):
        assert [i for r in ranks for i in r[step]] == one[step]
    last = [i for r in ranks for i in r[2]]
    assert len(last) % world == 0 and set(last) == set(one[2])  # padded by repeating, nothing lost
    assert len(set(one[0] + one[1] + one[2])) == 20  # distinct samples within an epoch
    assert one != _batches(50, 20, 8, 1, epoch=3)[0]  # a new subset and order each epoch


def test_subset_sampler_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_samples"):
        sfd.SubsetShardSampler(10, 11, 2, 0, 1)
    with pytest.raises(ValueError, match="batch_size"):
        sfd.SubsetShardSampler(10, 5, 3, 0, 2)


def test_task_loaders_in_one_process_are_the_plain_shuffled_loaders():
    data = TensorDataset(torch.arange(30).float(), torch.arange(30))
    train, test = sfd.task_loaders(data, data, 8, sfd.Context(), seed=0, generator=torch.Generator().manual_seed(1),
                                   test_batch_size=7)
    plain = DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    assert [y.tolist() for _, y in train] == [y.tolist() for _, y in plain]
    assert [len(y) for _, y in test] == [7, 7, 7, 7, 2]
    train, _ = sfd.task_loaders(data, data, 8, sfd.Context(), seed=0, generator=torch.Generator().manual_seed(1),
                                num_samples=12)
    drawn = [i for _, y in train for i in y.tolist()]
    assert len(drawn) == len(set(drawn)) == 12


def test_session_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with sfd.session(False, "cpu") as ctx:
        assert not ctx.distributed and ctx.is_main and ctx.device == torch.device("cpu")
    with pytest.raises(ValueError, match="launch with torchrun"), sfd.session(True):
        pass


def test_shard_needs_a_process_group():
    with pytest.raises(ValueError, match="no process group"):
        sfd.shard(torch.nn.Linear(2, 2))
    assert not sfd.is_sharded(torch.nn.Linear(2, 2))
    state = torch.nn.Linear(2, 2).state_dict()
    assert sfd.model_state(torch.nn.Linear(2, 2)).keys() == state.keys()  # plain modules: state_dict()


def test_device_argument():
    assert device("cpu") == "cpu"
    with pytest.raises(argparse.ArgumentTypeError, match="expected a torch device"):
        device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(argparse.ArgumentTypeError, match="no CUDA device"):
            device("cuda:0")

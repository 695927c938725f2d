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


def test_global_batchnorm_is_a_drop_in_for_batchnorm():
    from spikeflow.train.syncbn import GlobalBatchNorm, convert_global_batchnorm

    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    plain[1].weight.data.uniform_(0.5, 1.5)
    keys = plain.state_dict().keys()
    x = torch.randn(4, 1, 6, 6)
    expected = plain(x)  # training mode: updates the running statistics once
    converted = convert_global_batchnorm(plain)
    assert isinstance(converted[1], GlobalBatchNorm) and converted.state_dict().keys() == keys
    converted.eval()
    torch.testing.assert_close(converted(x), torch.nn.functional.batch_norm(
        plain[0](x), plain[1].running_mean, plain[1].running_var, plain[1].weight, plain[1].bias).relu())
    assert expected.shape == converted(x).shape


def test_sync_batch_norm_equals_torch_batch_norm_in_one_process(tmp_path):
    """Values, gradients and running statistics against F.batch_norm (float64), in a 1-process group."""
    import datetime

    import torch.distributed as dist

    from spikeflow.train.syncbn import sync_batch_norm

    if not dist.is_gloo_available() or dist.is_initialized():
        pytest.skip("needs gloo and no process group of the test run")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/rdzv", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=30))
    try:
        g = torch.Generator().manual_seed(2)
        x = torch.randn(5, 3, 4, 2, generator=g, dtype=torch.float64, requires_grad=True)
        w = torch.rand(3, generator=g, dtype=torch.float64, requires_grad=True)
        b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
        stats = [torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)]
        ref_stats = [t.clone() for t in stats]
        up = torch.randn(5, 3, 4, 2, generator=g, dtype=torch.float64)
        got = sync_batch_norm(x, *stats, w, b, momentum=0.1, eps=1e-5)
        grads = torch.autograd.grad((got * up).sum(), (x, w, b))
        want = torch.nn.functional.batch_norm(x, *ref_stats, w, b, True, 0.1, 1e-5)
        want_grads = torch.autograd.grad((want * up).sum(), (x, w, b))
        torch.testing.assert_close(got, want)
        for a, e in zip(grads, want_grads, strict=True):
            torch.testing.assert_close(a, e)
        for a, e in zip(stats, ref_stats, strict=True):
            torch.testing.assert_close(a, e)
    finally:
        dist.destroy_process_group()


def test_sf_distributed_is_the_helper_module():
    import spikeflow as sf

    assert sf.distributed is sfd and callable(sf.distributed.wrap) and callable(sf.distributed.shard)

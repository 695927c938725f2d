"""Pipeline-parallel spiking MLP on 2 processes: bit-packed spikes give exactly the unpacked run,
with 32x fewer forward bytes, and both equal the whole network in one process."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from spikeflow.train.pipeline import pack_spikes, unpack_spikes

STEPS, MICRO = 3, 2


def test_pack_round_trip_and_size():
    g = torch.Generator().manual_seed(0)
    for shape in [(6, 16, 32), (3, 5, 7), (1,), (9,)]:
        s = (torch.rand(shape, generator=g) < 0.3).float()
        packed = pack_spikes(s)
        assert packed.dtype == torch.uint8 and packed.numel() == (s.numel() + 7) // 8
        assert torch.equal(unpack_spikes(packed, shape), s)
    s = torch.zeros(64)
    s[[0, 9, 63]] = 1
    assert pack_spikes(s)[:2].tolist() == [1, 2] and pack_spikes(s)[7].item() == 128  # bit i = spike i


def test_pack_refuses_non_binary_values():
    with pytest.raises(ValueError, match="only 0 and 1"):
        pack_spikes(torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_spikes(torch.zeros(3, dtype=torch.uint8), (4, 8))


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("needs gloo")
    import ddp_workers
    import pipeline_workers

    folder = tmp_path_factory.mktemp("pipe")
    ddp_workers.spawn_with_timeout(pipeline_workers.worker, (2, str(folder), STEPS, MICRO, (True, False)), nprocs=2,
                                   timeout=240)
    return [torch.load(folder / f"stage{r}.pt", weights_only=True) for r in range(2)]


def test_packed_pipeline_equals_the_unpacked_one_bit_for_bit(stages):
    for rank in range(2):
        packed, floats = stages[rank]["packed"]["state"], stages[rank]["float"]["state"]
        for key in packed:
            assert torch.equal(packed[key], floats[key]), (rank, key)
    assert stages[1]["packed"]["losses"] == stages[1]["float"]["losses"]


def test_pipeline_equals_the_network_in_one_process(stages):
    import pipeline_workers

    torch.set_num_threads(1)
    reference = pipeline_workers.train_single(STEPS, MICRO)
    cut = 2 * (len(pipeline_workers.deep_mlp()) // 4)
    for key, value in reference.items():
        index, name = key.split(".", 1)
        rank, local = (0, int(index)) if int(index) < cut else (1, int(index) - cut)
        torch.testing.assert_close(stages[rank]["packed"]["state"][f"{local}.{name}"], value, rtol=1e-5, atol=1e-6,
                                   msg=key)
    assert not torch.allclose(reference["0.weight"], pipeline_workers.deep_mlp().state_dict()["0.weight"])


def test_forward_bytes_are_32x_fewer(stages):
    import pipeline_workers as pw

    spikes = STEPS * pw.T * pw.BATCH * pw.WIDTH  # stage 0 -> 1 payload per run
    assert stages[0]["float"]["bytes_sent"] == 4 * spikes
    assert stages[0]["packed"]["bytes_sent"] == spikes // 8
    # the backward (stage 1 -> 0) carries dense float gradients in both modes
    assert stages[1]["packed"]["bytes_sent"] == stages[1]["float"]["bytes_sent"] == 4 * spikes

"""tonic adapters: files in tonic's real on-disk formats, read by the real tonic classes and by ours."""

from __future__ import annotations

import pickle
from unittest import mock

import numpy as np
import pytest
import torch

tonic = pytest.importorskip("tonic")

from spikeflow.data import (  # noqa: E402
    DataNotFoundError,
    FrameAugment,
    cache_path_for,
    dvsgesture,
    frame_transform,
    load,
    nmnist,
    pad_time_major,
    shd,
)
from spikeflow.data import tonic_files as TF  # noqa: E402


@pytest.fixture(autouse=True)
def _never_download():
    """Any attempt to download fails the test."""
    with mock.patch("tonic.download_utils.download_and_extract_archive",
                    side_effect=AssertionError("tried to download")), \
            mock.patch("tonic.dataset.download_and_extract_archive", side_effect=AssertionError("tried to download")):
        yield


def _nmnist_events(rng, n):
    return np.stack([rng.integers(0, 34, n), rng.integers(0, 34, n), np.sort(rng.integers(0, 300_000, n)),
                     rng.integers(0, 2, n)], 1)


def _dvs_events(rng, n, t_ms=1000.0):
    return np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                     np.sort(rng.uniform(0, t_ms, n)).round(3)], 1)


def test_nmnist_bin_files_read_by_tonic_and_framed_by_tonic_toframe(tmp_path):
    rng = np.random.default_rng(0)
    samples = [(_nmnist_events(rng, 60), d) for d in (3, 7, 3)]
    TF.write_nmnist(tmp_path, "train", samples)
    with mock.patch.object(tonic.datasets.NMNIST, "_check_exists", return_value=True):
        raw = tonic.datasets.NMNIST(str(tmp_path), train=True)
    assert len(raw) == 3 and sorted(raw.targets) == [3, 3, 7]
    for k in range(3):
        ev, label = raw[k]
        wrote = next(s for s in samples if s[1] == label and np.array_equal(s[0][:, 2], ev["t"]))[0]
        assert np.array_equal(ev["x"], wrote[:, 0]) and np.array_equal(ev["y"], wrote[:, 1])
        assert np.array_equal(ev["p"], wrote[:, 3])
    ds = nmnist("train", data_dir=tmp_path, n_time_bins=5)
    x, y = ds[0]
    ref = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=5)(raw[0][0])
    assert x.dtype == torch.float32 and x.shape == (5, 2, 34, 34) and int(y) == raw[0][1]
    assert torch.equal(x, torch.from_numpy(ref).float())
    assert ds.info.sample_shape == (-1, 2, 34, 34) and ds.info.num_classes == 10
    assert torch.equal(ds.targets, torch.tensor(raw.targets))
    assert len(nmnist("train", data_dir=tmp_path, limit=2)) == 2


def test_shd_hdf5_drops_the_polarity_axis_and_keeps_every_spike(tmp_path):
    rng = np.random.default_rng(1)
    samples = [(np.sort(rng.uniform(0, 0.5, 80)), rng.integers(0, 700, 80), label) for label in (4, 19)]
    TF.write_shd(tmp_path, "test", samples, speakers=[1, 2])
    with mock.patch.object(tonic.datasets.SHD, "_check_exists", return_value=True):
        raw = tonic.datasets.SHD(str(tmp_path), train=False)
    ev, label = raw[1]
    assert label == 19 and set(ev.dtype.names) == {"t", "x", "p"}
    np.testing.assert_allclose(ev["t"], np.float32(samples[1][0]).astype(np.float64) * 1e6, rtol=0, atol=1.0)  # int µs
    ds = shd("test", data_dir=tmp_path, time_window=50_000.0, include_incomplete=True)
    x, y = ds[1]
    assert x.dim() == 2 and x.shape[1] == 700 and int(y) == 19  # [T, 700]: no polarity axis
    assert x.sum() == 80  # include_incomplete keeps the last window's spikes
    counts = np.bincount(samples[1][1], minlength=700)
    assert torch.equal(x.sum(0), torch.from_numpy(counts).float())
    assert ds.info.sample_shape == (-1, 700) and ds.info.variable_length
    assert ds.targets.tolist() == [4, 19]
    assert shd("test", data_dir=tmp_path, squeeze_polarity=False, time_window=50_000.0)[0][0].shape[1:] == (1, 700)


def test_dvsgesture_npy_in_ms_read_by_tonic(tmp_path):
    rng = np.random.default_rng(2)
    TF.write_dvsgesture(tmp_path, "train", [(_dvs_events(rng, 200), 5), (_dvs_events(rng, 150), 2)])
    with mock.patch.object(tonic.datasets.DVSGesture, "_check_exists", return_value=True):
        raw = tonic.datasets.DVSGesture(str(tmp_path), train=True)
    ev, label = raw[raw.targets.index(5)]
    assert ev["t"].max() > 1000  # ms became µs
    ds = dvsgesture("train", data_dir=tmp_path, time_window=100_000.0)
    x, y = ds[raw.targets.index(5)]
    assert x.shape[1:] == (2, 128, 128) and int(y) == 5
    ref = tonic.transforms.ToFrame(sensor_size=(128, 128, 2), time_window=100_000.0)(ev)
    assert torch.equal(x, torch.from_numpy(ref).float())


def test_event_transforms_are_tonics_and_run_before_framing(tmp_path):
    rng = np.random.default_rng(3)
    ev = _nmnist_events(rng, 40)
    ev = np.concatenate([ev, [[0, 0, 299_999, 1]]])  # an isolated event Denoise must remove
    TF.write_nmnist(tmp_path, "train", [(ev, 1)])
    denoise = tonic.transforms.Denoise(filter_time=5000)
    ds = nmnist("train", data_dir=tmp_path, n_time_bins=3, event_transforms=[denoise])
    with mock.patch.object(tonic.datasets.NMNIST, "_check_exists", return_value=True):
        raw, _ = tonic.datasets.NMNIST(str(tmp_path))[0]
    ref = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=3)(denoise(raw))
    assert torch.equal(ds[0][0], torch.from_numpy(ref).float())
    assert ds[0][0][:, 1, 0, 0].sum() == 0
    # every event filtered away still gives frames (tonic's Compose would return the empty events)
    empty = nmnist("train", data_dir=tmp_path, n_time_bins=3,
                   event_transforms=[tonic.transforms.Denoise(filter_time=1)])
    assert empty[0][0].shape == (3, 2, 34, 34) and empty[0][0].sum() == 0
    with pytest.raises(ValueError, match="Denoise needs 2-D events"):
        frame_transform((700, 1, 1), time_window=1000, event_transforms=[denoise])
    with pytest.raises(ValueError, match="exactly one of"):
        frame_transform((34, 34, 2), time_window=1000, n_time_bins=3)


def test_pad_time_major_pads_and_masks():
    a, b = torch.ones(3, 5), 2 * torch.ones(1, 5)
    batch = pad_time_major([(a, torch.tensor(1)), (b, torch.tensor(0))])
    assert batch.x.shape == (3, 2, 5) and batch.y.tolist() == [1, 0]
    assert torch.equal(batch.x[:, 0], a) and torch.equal(batch.x[0, 1], b[0]) and batch.x[1:, 1].abs().sum() == 0
    assert batch.mask.tolist() == [[True, True], [True, False], [True, False]]
    with pytest.raises(ValueError, match="sample 1"):
        pad_time_major([(a, 0), (torch.ones(2, 4), 0)])


def test_disk_cache_folder_hashes_the_transform(tmp_path):
    rng = np.random.default_rng(4)
    TF.write_nmnist(tmp_path / "data", "train", [(_nmnist_events(rng, 30), 2), (_nmnist_events(rng, 30), 8)])
    cache = tmp_path / "cache"
    first = nmnist("train", data_dir=tmp_path / "data", n_time_bins=4, cache_dir=cache)
    same = nmnist("train", data_dir=tmp_path / "data", n_time_bins=4, cache_dir=cache)
    other = nmnist("train", data_dir=tmp_path / "data", n_time_bins=6, cache_dir=cache)
    assert first.cache_path == same.cache_path != other.cache_path
    assert first.cache_path.name.startswith("nmnist-train-")
    expected = [first[i][0] for i in range(2)]  # written to the cache
    assert len(list(first.cache_path.glob("*.hdf5"))) == 2
    for f in (tmp_path / "data").rglob("*.bin"):  # the cache alone must now serve the samples
        f.write_bytes(b"")
    again = nmnist("train", data_dir=tmp_path / "data", n_time_bins=4, cache_dir=cache)
    assert all(torch.equal(again[i][0], expected[i]) for i in range(2))
    assert other[0][0].shape[0] == 6 and other[0][0].sum() == 0  # not the stale 4-bin frames
    with pytest.raises(ValueError, match="memory address"):
        cache_path_for(cache, "nmnist", "train", lambda e: e)


def test_seeded_augmentation_and_distributed_sampler(tmp_path):
    rng = np.random.default_rng(5)
    TF.write_nmnist(tmp_path, "train", [(_nmnist_events(rng, 80), k % 10) for k in range(6)])
    ds = nmnist("train", data_dir=tmp_path, n_time_bins=2, augment=FrameAugment(max_shift=3, drop=0.2, seed=7))
    twin = nmnist("train", data_dir=tmp_path, n_time_bins=2, augment=FrameAugment(max_shift=3, drop=0.2, seed=7))
    plain = nmnist("train", data_dir=tmp_path, n_time_bins=2)
    assert torch.equal(ds[4][0], twin[4][0]) and not torch.equal(ds[4][0], plain[4][0])
    assert ds[4][0].sum() <= plain[4][0].sum()
    epoch0 = ds[4][0]
    ds.set_epoch(1)
    assert not torch.equal(ds[4][0], epoch0)
    ds.set_epoch(0)
    # two ranks: disjoint index sets covering the data, each sample identical to the one-process sample
    from torch.utils.data import DataLoader, DistributedSampler

    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=0)
        sampler.set_epoch(0)
        idx = list(sampler)
        loader = DataLoader(ds, batch_size=3, sampler=sampler, collate_fn=pad_time_major)
        (batch,) = list(loader)
        assert batch.x.shape == (2, 3, 2, 34, 34)
        for j, i in enumerate(idx):
            assert torch.equal(batch.x[:, j], twin[i][0])
        seen += idx
    assert sorted(seen) == list(range(6))
    clone = pickle.loads(pickle.dumps(ds))  # DataLoader workers with spawn pickle the data set
    assert torch.equal(clone[2][0], ds[2][0])


def test_missing_data_says_how_to_get_it_and_never_downloads(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"nmnist test data not found at .*NMNIST.Test.*datasets\.NMNIST"):
        nmnist("test", data_dir=tmp_path)
    with pytest.raises(DataNotFoundError, match="shd_train.h5"):
        load("shd", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        dvsgesture("validation", data_dir=tmp_path)


def test_an_empty_shd_recording_still_gives_frames_of_the_right_shape(tmp_path):
    TF.write_shd(tmp_path, "train", [(np.array([]), np.array([], dtype=int), 3), (np.array([0.01]), np.array([5]), 1)])
    ds = shd("train", data_dir=tmp_path, time_window=10_000.0)
    x, y = ds[0]
    assert x.shape == (1, 700) and x.sum() == 0 and int(y) == 3
    assert ds.info.classes[3] == "digit-3"


@pytest.mark.parametrize("framing", [{"event_count": 10}, {"n_event_bins": 4}, {"time_window": 50_000.0}])
def test_every_framing_is_tonics_toframe(tmp_path, framing):
    rng = np.random.default_rng(6)
    TF.write_nmnist(tmp_path, "test", [(_nmnist_events(rng, 60), 4)])
    with mock.patch.object(tonic.datasets.NMNIST, "_check_exists", return_value=True):
        raw, _ = tonic.datasets.NMNIST(str(tmp_path), train=False)[0]
    x, _ = nmnist("test", data_dir=tmp_path, **framing)[0]
    ref = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), **framing)(raw)
    assert x.shape[0] == ref.shape[0] > 1 and torch.equal(x, torch.from_numpy(ref).float())

"""Data sets: shapes, standardisation with train statistics, offline MNIST-1D, errors."""

import numpy as np
import pytest

from crossent_jax.train import _data, load_dataset


def _check_standardised(ds):
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32
    mean = ds.x_train.astype(np.float64).mean(axis=0)
    std = ds.x_train.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(mean, 0.0, atol=1e-5)
    # every feature has unit std, except constant ones (left at 0)
    np.testing.assert_allclose(std[std > 1e-6], 1.0, rtol=1e-5)
    assert set(np.unique(ds.y_train)) <= set(range(ds.num_classes))


def test_blobs():
    ds = load_dataset("blobs")
    assert ds.x_train.shape == (512, 8) and ds.x_test.shape == (256, 8)
    assert ds.num_classes == 4 and ds.num_features == 8 and ds.name == "blobs"
    _check_standardised(ds)
    again = load_dataset("blobs")
    np.testing.assert_array_equal(ds.x_train, again.x_train)


def test_mnist1d_shapes():
    ds = load_dataset("mnist1d")  # generated once per machine, then read from the cache
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.num_classes == 10
    assert np.bincount(ds.y_train).min() > 300  # ~400 per class
    _check_standardised(ds)


def test_mnist1d_offline_cached_and_global_rng_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # no network: make any download attempt fail loudly
    import mnist1d.data

    def no_download(*a, **k):
        raise AssertionError("mnist1d must not download")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    np.random.seed(7)
    expected_next = np.random.RandomState(7).random_sample()
    raw = _data._mnist1d_raw(num_samples=200)  # small: same code path, fast
    assert np.random.random_sample() == expected_next  # make_dataset's reseed was undone
    assert raw["x"].shape == (160, 40) and raw["x_test"].shape == (40, 40)
    cached = list((tmp_path / "crossent_jax").glob("mnist1d-*.npz"))
    assert len(cached) == 1
    # second load reads the cache, identical arrays
    monkeypatch.setattr(mnist1d.data, "make_dataset", no_download)
    again = _data._mnist1d_raw(num_samples=200)
    np.testing.assert_array_equal(again["x_test"], raw["x_test"])
    with pytest.raises(ValueError, match=r"unknown mnist1d arguments \['size'\]"):
        _data._mnist1d_raw(size=3)


def test_digits():
    pytest.importorskip("sklearn")
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.num_classes == 10
    _check_standardised(ds)


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _data.cache_dir() == str(tmp_path / "crossent_jax")


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; known: blobs, digits, mnist1d"):
        load_dataset("cifar")

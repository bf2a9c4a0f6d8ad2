"""Process-wide settings: thread count round trip, clamping to the usable cores, and show_config."""

from __future__ import annotations

import numpy as np
import pytest

import fastnet as fn


@pytest.fixture()
def restore_threads():
    old = fn.get_num_threads()
    yield
    fn.set_num_threads(old)


@pytest.mark.parametrize("n", [1, 2])
def test_set_get_round_trip(restore_threads, n):
    fn.set_num_threads(n)
    assert fn.get_num_threads() == n
    assert fn._core.openblas_num_threads() == 1  # OpenBLAS stays single-threaded
    assert fn.show_config(print_fn=None)["threads"] == n


@pytest.mark.parametrize("extra", [1, 5, 1000])
def test_above_the_usable_cores_is_clamped_with_a_warning(restore_threads, extra):
    cores = fn._config.available_cores()
    with pytest.warns(RuntimeWarning, match=f"may use {cores} cores"):
        fn.set_num_threads(min(cores + extra, 1024))
    assert fn.get_num_threads() == cores


def test_thread_count_is_process_wide(restore_threads):
    import threading

    seen = []
    fn.set_num_threads(1)
    t = threading.Thread(target=lambda: seen.append(fn.get_num_threads()))
    t.start()
    t.join()
    assert seen == [1]
    t = threading.Thread(
        target=lambda: fn.set_num_threads(2 if fn._config.available_cores() > 1 else 1)
    )
    t.start()
    t.join()
    assert fn.get_num_threads() == min(2, fn._config.available_cores())


def test_available_cores_honours_a_cgroup_quota(monkeypatch):
    monkeypatch.setattr(fn._config, "_cgroup_cpu_limit", lambda: 1.5)
    assert fn._config.available_cores() == min(2, len(__import__("os").sched_getaffinity(0)))
    monkeypatch.setattr(fn._config, "_cgroup_cpu_limit", lambda: 0.2)
    assert fn._config.available_cores() == 1


def test_numpy_integer_is_accepted(restore_threads):
    fn.set_num_threads(np.int64(2))
    assert fn.get_num_threads() == 2


@pytest.mark.parametrize(
    "bad,exc,fragment",
    [
        (0, ValueError, "n must be >= 1"),
        (-3, ValueError, "n must be >= 1"),
        (10**6, ValueError, r"n must be in \[1, 1024\]"),
        (2**40, ValueError, r"n must be in \[1, 1024\]"),
        (2.0, TypeError, "n must be an integer"),
        ("2", TypeError, "n must be an integer"),
        (None, TypeError, "n must be an integer"),
        (True, TypeError, "n must be an integer"),
    ],
)
def test_bad_thread_counts(restore_threads, bad, exc, fragment):
    before = fn.get_num_threads()
    with pytest.raises(exc, match=fragment):
        fn.set_num_threads(bad)
    assert fn.get_num_threads() == before


def test_results_do_not_depend_on_thread_count(restore_threads):
    rng = np.random.default_rng(0)
    model = fn.Sequential(fn.Dense(64, 128, activation="gelu"), fn.Dense(128, 10), seed=0)
    X = rng.standard_normal((600, 64)).astype(np.float32)
    fn.set_num_threads(1)
    one = model.forward(X)
    fn.set_num_threads(2)
    np.testing.assert_allclose(model.forward(X), one, rtol=1e-5, atol=1e-6)


def test_show_config_keys_and_printing():
    lines = []
    info = fn.show_config(print_fn=lines.append)
    for key in (
        "fastnet",
        "python",
        "numpy",
        "compiler",
        "openblas",
        "thread_pool",
        "openblas_corename",
        "threads",
        "openblas_threads",
        "available_cores",
    ):
        assert key in info, key
    assert info["fastnet"] == fn.__version__
    assert info["threads"] == fn.get_num_threads() >= 1
    assert isinstance(info["openblas_corename"], str) and info["openblas_corename"]
    assert info["openblas_threads"] == 1
    assert len(lines) == len(info)
    assert any(line.startswith("openblas_corename") for line in lines)
    assert fn.show_config(print_fn=None) == fn.show_config(print_fn=lambda s: None)

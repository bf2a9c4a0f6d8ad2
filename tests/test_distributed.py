"""fastnet.distributed: data-parallel training under mpirun (tests/mpi_scripts/*.py, each run
in a child process with a deadline), compared with a single process trained on the same
global batches in the same order."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from child import run_child

import fastnet as fn
from fastnet import distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
WORLD = 2
CASES = ("plain", "bn", "residual")


def make_case(name, **opt_kwargs):
    """(model, optimizer, X, y, fit kwargs) of a case: 80 rows, 4 per rank and step, 2 epochs:
    20 steps of 8 rows (global)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 0.5)
    if name == "plain":
        model = fn.Sequential(fn.Dense(6, 16, activation="tanh"), fn.Dense(16, 3), seed=0)
    elif name == "residual":
        # BatchNorm inside a composite layer (the collectives follow the layers' order).
        model = fn.Sequential(
            fn.Dense(6, 16, bias=False),
            fn.Residual(fn.Dense(16, 16, bias=False), fn.BatchNorm(16), fn.ReLU()),
            fn.Dense(16, 3),
            seed=0,
        )
    else:
        # No bias before the BatchNorm: its gradient is zero up to rounding, which Adam would
        # turn into full-size steps of arbitrary sign (no test of anything).
        model = fn.Sequential(
            fn.Dense(6, 16, bias=False), fn.BatchNorm(16), fn.ReLU(), fn.Dense(16, 3), seed=0
        )
    opt = fn.optim.Adam(model.parameters(), lr=0.01, **opt_kwargs)
    kwargs = {"loss": "sparse_categorical_crossentropy", "epochs": 2, "batch_size": 4, "seed": 5}
    return model, opt, X, y, kwargs


def reference(name):
    """A single process trained on the global batches of the two ranks: each epoch's shuffled
    order padded cyclically to a multiple of the ranks, rank r taking every WORLD-th row from
    r (torch's DistributedSampler), global batch b the ranks' batches b together."""
    model, opt, X, y, kw = make_case(name)
    rng = np.random.Generator(np.random.PCG64(kw["seed"]))
    per_rank = -(-X.shape[0] // WORLD)
    for _ in range(kw["epochs"]):
        padded = np.resize(rng.permutation(X.shape[0]), per_rank * WORLD)
        shards = [padded[r::WORLD] for r in range(WORLD)]
        for start in range(0, per_rank, kw["batch_size"]):
            idx = np.concatenate([s[start : start + kw["batch_size"]] for s in shards])
            model.train_step(X[idx], y[idx], kw["loss"], opt)
    return [np.array(a) for a in model.state_arrays().values()]


def reference_given():
    """One process on the global batches of shard="given" without shuffling: rank r holds rows
    40r .. 40r+39, global batch b is both ranks' batch b."""
    model, opt, X, y, kw = make_case("bn")
    for _ in range(kw["epochs"]):
        for start in range(0, 40, kw["batch_size"]):
            idx = np.concatenate(
                [np.arange(r * 40, r * 40 + 40)[start : start + 4] for r in (0, 1)]
            )
            model.train_step(X[idx], y[idx], kw["loss"], opt)
    return [np.array(a) for a in model.state_arrays().values()]


def assert_close(got, expected):
    for g, e in zip(got, expected):
        scale = max(float(np.abs(e).max()), 1e-3)
        assert float(np.abs(g - e).max()) / scale <= 1e-5


def mpirun():
    return shutil.which("mpirun")


needs_mpirun = pytest.mark.skipif(
    mpirun() is None, reason="mpirun missing (pip install 'fastnet[mpi]')"
)


def run_mpi(script, *args, timeout=120):
    env = dict(os.environ)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
        PYTHONPATH=os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH", "")) if p),
    )
    cmd = [mpirun(), "-n", str(WORLD), "--oversubscribe", sys.executable, script, *args]
    # On a deadline mpirun is told to end the job (its ranks live in their own sessions), then
    # its group is killed: a hang fails the test instead of leaving processes behind.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # mpirun passes SIGTERM on to its ranks and ends the job
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        raise AssertionError(f"mpirun passed its {timeout} s deadline:\n{out}\n{err}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    if mpirun() is None:
        pytest.skip("mpirun missing (pip install 'fastnet[mpi]')")
    out = tmp_path_factory.mktemp("mpi")
    proc = run_mpi(os.path.join(SCRIPTS, "checks.py"), str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = [json.load(open(out / f"rank{r}.json")) for r in range(WORLD)]
    weights = [dict(np.load(out / f"rank{r}.npz")) for r in range(WORLD)]
    return out, reports, weights


@needs_mpirun
def test_rank_and_world_under_mpirun(ranks):
    _, reports, _ = ranks
    assert [(r["rank"], r["world"], r["main"]) for r in reports] == [(0, 2, True), (1, 2, False)]


@needs_mpirun
def test_weights_are_bit_identical_on_every_rank(ranks):
    _, _, weights = ranks
    assert sorted(weights[0]) == sorted(weights[1])
    for key in weights[0]:
        assert np.array_equal(weights[0][key], weights[1][key]), key


@needs_mpirun
@pytest.mark.parametrize("name", CASES)
def test_equals_one_process_on_the_global_batches(ranks, name):
    _, _, weights = ranks
    expected = reference(name)
    got = [weights[0][f"{name}_{i}"] for i in range(len(expected))]
    assert_close(got, expected)
    # ... and the weights moved (20 steps): the comparison is not of two initial states.
    model = make_case(name)[0]
    initial = [np.array(a) for a in model.state_arrays().values()]
    assert any(float(np.abs(g - i).max()) > 1e-2 for g, i in zip(got, initial))


@needs_mpirun
def test_own_shards_equal_one_process_on_the_global_batches(ranks):
    _, _, weights = ranks
    expected = reference_given()
    assert_close([weights[0][f"given_{i}"] for i in range(len(expected))], expected)


@needs_mpirun
def test_epoch_loss_is_the_mean_over_all_ranks(ranks):
    _, reports, _ = ranks
    assert reports[0]["plain_loss"] == reports[1]["plain_loss"]


@needs_mpirun
def test_each_rank_draws_its_own_dropout_masks(ranks):
    _, reports, weights = ranks
    assert reports[0]["dropout_loss"] != reports[1]["dropout_loss"]
    assert any(k.startswith("dropout_") for k in weights[0])  # bit-identical: test above


@needs_mpirun
def test_rank_0_decides_when_to_stop(ranks):
    _, reports, _ = ranks
    assert [r["stop_steps"] for r in reports] == [4, 4]


@needs_mpirun
def test_only_rank_0_writes_files(ranks):
    out, reports, _ = ranks
    ckpts = sorted(f for f in os.listdir(out) if f.startswith("ckpt-"))
    assert ckpts == ["ckpt-1.safetensors", "ckpt-2.safetensors"]
    assert sorted(os.path.basename(p) for p in reports[0]["writes"]) == ckpts
    assert reports[1]["writes"] == []
    rows = open(out / "log.csv").read().splitlines()
    assert len(rows) == 3  # header and one row per epoch: one writer
    loaded = fn.load(out / "ckpt-1.safetensors")
    assert loaded.count_params() == make_case("plain")[0].count_params()


@needs_mpirun
def test_a_failing_rank_makes_the_others_raise(ranks):
    _, reports, _ = ranks
    assert (reports[0]["bad_input"], reports[1]["bad_input"]) == ("PeerError", "ValueError")
    assert (reports[0]["bad_batch"], reports[1]["bad_batch"]) == ("PeerError", "ValueError")
    # A non-finite averaged gradient is seen by every rank: all raise it themselves.
    assert [r["nonfinite"] for r in reports] == ["FloatingPointError"] * 2
    # The ranks stayed matched: training goes on after the errors.
    assert [r["after_errors"] for r in reports] == ["ok", "ok"]


@needs_mpirun
def test_an_uncaught_error_on_one_rank_ends_every_rank():
    proc = run_mpi(os.path.join(SCRIPTS, "raises.py"), timeout=60)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "finished without error" not in text
    assert "ValueError" in text and "PeerError" in text


def test_one_process_without_mpirun():
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)


@needs_mpirun
def test_distributed_fit_in_one_process_equals_plain_fit():
    # A child process: MPI is initialised there (a singleton world of 1), not in pytest's.
    out = run_child(
        """
        import numpy as np
        from test_distributed import make_case
        from fastnet import distributed as dist

        weights = []
        for distributed in (True, False):
            model, opt, X, y, kw = make_case("bn")
            model.fit(X, y, optimizer=opt, verbose=0, distributed=distributed, **kw)
            weights.append([np.array(a) for a in model.state_arrays().values()])
        # BatchNorm's synchronised sums are shifted by the running mean, not the first row:
        # equal up to rounding.
        diff = max(float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-3)
                   for a, b in zip(*weights))  # fmt: skip
        print(dist.rank(), dist.world_size(), diff <= 1e-6)
        """,
        timeout=120,
    )
    assert out.split() == ["0", "1", "True"]


@needs_mpirun
def test_distributed_train_step_follows_one_cycle_momentum():
    # train_step(distributed=True) takes train_step's own path: OneCycle's lr and cycled β1
    # reach the optimizer; in a world of 1 it equals the plain step (no BatchNorm: bit-equal).
    out = run_child(
        """
        import numpy as np
        import fastnet as fn

        rng = np.random.default_rng(0)
        X = rng.standard_normal((32, 6)).astype(np.float32)
        y = rng.integers(0, 3, 32)
        runs = []
        for distributed in (True, False):
            model = fn.Sequential(fn.Dense(6, 8, activation="relu"), fn.Dense(8, 3), seed=0)
            opt = fn.optim.Adam(model.parameters(), lr=1e-3)
            sched = fn.schedules.OneCycle(0.05, total_steps=10)
            betas = []
            for _ in range(6):
                model.train_step(X, y, "sparse_categorical_crossentropy", opt, schedule=sched,
                                 distributed=distributed)
                betas.append(opt.hparam("beta1"))
            runs.append((betas, [np.array(a) for a in model.state_arrays().values()]))
        (b_dist, w_dist), (b_plain, w_plain) = runs
        same = all(np.array_equal(a, b) for a, b in zip(w_dist, w_plain))
        print(b_dist == b_plain, len(set(b_dist)) > 1, same)
        """,
        timeout=120,
    )
    assert out.split() == ["True", "True", "True"]


def test_shard_indices_pad_like_distributed_sampler():
    order = np.array([4, 1, 3, 0, 2])
    shards = [dist.shard_indices(order, r, 3) for r in range(3)]
    assert [s.tolist() for s in shards] == [[4, 0], [1, 2], [3, 4]]
    assert dist.shard_indices(np.array([2, 0]), 2, 3).tolist() == [2]


def test_bad_arguments():
    model, opt, X, y, kw = make_case("plain")
    with pytest.raises(ValueError, match="shard"):
        model.fit(X, y, optimizer=opt, distributed=True, shard="mine", **kw)
    with pytest.raises(TypeError, match="distributed"):
        model.fit(X, y, optimizer=opt, distributed="yes", **kw)

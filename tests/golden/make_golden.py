"""Regenerate the PyTorch golden references that CI checks without torch (llm.c's approach).

    pip install torch==2.13.0 && python tests/golden/make_golden.py

Writes tests/golden/torch_optim.npz (every optimizer case of tests/test_optim.py under
plain, clip_norm, clip_layer_norm (each layer's [W, b]), clip_tensor_norm (each tensor) and
clip_value, 20 steps; AveragedModel's EMA and running mean over 20 SGD steps), tests/golden/torch_norm.npz
(BatchNorm1d and LayerNorm forward and backward at a size the threaded kernels take, and
BatchNorm1d(momentum=None)'s cumulative running statistics over five batches) and
tests/golden/torch_activations.npz (every deterministic activation of tests/test_activations.py:
value and gradient computed in float64, stored as float32, over a wide range of inputs) and
tests/golden/torch_losses.npz (every loss PyTorch has, value and gradient, small and threaded)
and tests/golden/torch_schedules.npz (the lr of every torch.optim.lr_scheduler twin of a
fastnet schedule, tests/test_schedules.py TORCH_SCHEDULES, before each optimizer step; lr and
momentum/beta1 of OneCycleLR over every option combination, TORCH_ONECYCLE) and
tests/golden/torch_lbfgs.npz (torch.optim.LBFGS on tests/test_optim_second_order.py's MLP
problem, every LBFGS_CASES setting: per-step losses, final weights, evaluation counts).
Inputs (initial weights, gradients, data) are stored with the outputs, so the CI tests need
neither torch nor the same NumPy random streams.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/ for test_optim's registry

from test_optim import (  # noqa: E402
    CASES,
    NUMPY_ONLY,
    case_id,
    numpy_sgd,
    torch_averaged,
    torch_clip,
)

STEPS = 20
EXTRAS = ["plain", "clip_norm", "clip_layer_norm", "clip_tensor_norm", "clip_value"]
SHAPES = [(6, 5), (5,), (5, 3), (3,)]  # Dense(6, 5), Dense(5, 3): weight (in, out), bias


def optim_golden() -> dict:
    out = {}
    rng = np.random.default_rng(20261124)
    for case in CASES:
        name, kw = case
        for extra in EXTRAS:
            key = f"{case_id(case)}|{extra}"
            init = [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in SHAPES]
            grads = [
                [(rng.standard_normal(s) * 2.0).astype(np.float32) for s in SHAPES]
                for _ in range(STEPS)
            ]
            if name in NUMPY_ONLY:  # no torch twin: the float64 NumPy reference
                trajectory, norms = numpy_sgd(init, grads, kw, extra, normalized=True)
                for i, w in enumerate(init):
                    out[f"{key}|init{i}"] = w
                    out[f"{key}|final{i}"] = trajectory[-1][i].astype(np.float32)
                    out[f"{key}|grads{i}"] = np.stack([g[i] for g in grads])
                out[f"{key}|norms"] = np.array(norms)
                continue
            params = [torch.nn.Parameter(torch.tensor(w)) for w in init]
            opt = getattr(torch.optim, "NAdam" if name == "Nadam" else name)(params, **kw)
            norms = []
            for step in range(STEPS):
                for t, g in zip(params, grads[step]):
                    t.grad = torch.tensor(g)
                norm = torch_clip(torch, extra, params)
                norms.append(float("nan") if norm is None else norm)
                opt.step()
            for i, w in enumerate(init):
                out[f"{key}|init{i}"] = w
                out[f"{key}|final{i}"] = params[i].detach().numpy().copy()
                out[f"{key}|grads{i}"] = np.stack([g[i] for g in grads])
            out[f"{key}|norms"] = np.array(norms)
    for average in ("ema", "polyak"):  # torch.optim.swa_utils.AveragedModel over SGD steps
        key = f"average|{average}"
        init = [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in SHAPES]
        grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
        for i, (w, a) in enumerate(zip(init, torch_averaged(torch, average, init, grads))):
            out[f"{key}|init{i}"] = w
            out[f"{key}|final{i}"] = a
            out[f"{key}|grads{i}"] = np.stack([g[i] for g in grads])
    return out


def norm_golden() -> dict:
    # 256 x 160 = 40,960 elements: above kParallelThreshold (32,768), the threaded kernels.
    rng = np.random.default_rng(7)
    batch, feats = 256, 160
    X = (rng.standard_normal((batch, feats)) * 2 + 0.5).astype(np.float32)
    dY = rng.standard_normal((batch, feats)).astype(np.float32)
    gamma = (1 + 0.3 * rng.standard_normal(feats)).astype(np.float32)
    beta = (0.2 * rng.standard_normal(feats)).astype(np.float32)
    out = {"X": X, "dY": dY, "gamma": gamma, "beta": beta}
    for kind, layer in (
        ("bn", torch.nn.BatchNorm1d(feats, eps=1e-5, momentum=0.1)),
        ("ln", torch.nn.LayerNorm(feats, eps=1e-5)),
    ):
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(gamma))
            layer.bias.copy_(torch.tensor(beta))
        layer.train()
        x = torch.tensor(X, requires_grad=True)
        y = layer(x)
        y.backward(torch.tensor(dY))
        out[f"{kind}_Y"] = y.detach().numpy()
        out[f"{kind}_dX"] = x.grad.numpy()
        out[f"{kind}_dgamma"] = layer.weight.grad.numpy()
        out[f"{kind}_dbeta"] = layer.bias.grad.numpy()
        if kind == "bn":
            out["bn_running_mean"] = layer.running_mean.numpy()
            out["bn_running_var"] = layer.running_var.numpy()
    # BatchNorm1d(momentum=None): the cumulative average over batches of different sizes and
    # distributions (the m/(m−1) correction differs per batch); outputs in eval mode after.
    sizes = (2, 5, 17, 64, 256)
    batches = [
        (rng.standard_normal((m, 24)) * (1 + i) + i - 2).astype(np.float32)
        for i, m in enumerate(sizes)
    ]
    layer = torch.nn.BatchNorm1d(24, momentum=None)
    layer.train()
    with torch.no_grad():
        for i, x in enumerate(batches):
            out[f"cma_X{i}"] = x
            out[f"cma_Y{i}"] = layer(torch.tensor(x)).numpy()
            out[f"cma_running_mean{i}"] = layer.running_mean.numpy().copy()
            out[f"cma_running_var{i}"] = layer.running_var.numpy().copy()
        layer.eval()
        out["cma_eval_Y"] = layer(torch.tensor(batches[0])).numpy()
    out["cma_num_batches_tracked"] = layer.num_batches_tracked.numpy()
    return out


def activation_golden() -> dict:
    from test_activations import NAMES, _torch_reference

    rng = np.random.default_rng(11)
    # 40 x 128 = 5120 elements: the threaded path of every activation but ReLU (which goes
    # threaded from 32768); inputs up to |z| = 30 (saturation and overflow paths)
    Z = (rng.standard_normal((40, 128)) * np.linspace(0.1, 30, 128)).astype(np.float32)
    dY = rng.standard_normal(Z.shape).astype(np.float32)
    out = {"Z": Z, "dY": dY}
    for name in NAMES:
        if name == "rrelu":  # random slopes in training: checked against its own stream
            continue
        z = torch.tensor(Z.astype(np.float64), requires_grad=True)
        y = _torch_reference(name, z)
        y.backward(torch.tensor(dY.astype(np.float64)))
        out[f"{name}_Y"] = y.detach().numpy().astype(np.float32)
        out[f"{name}_dZ"] = z.grad.numpy().astype(np.float32)
    # Swish with a learned per-feature beta (Ramachandran et al. 2017): x·sigmoid(beta·x),
    # its gradient in x and in beta by torch's autograd.
    beta = rng.uniform(0.2, 3.0, Z.shape[1]).astype(np.float32)
    z = torch.tensor(Z.astype(np.float64), requires_grad=True)
    b = torch.tensor(beta.astype(np.float64), requires_grad=True)
    y = z * torch.sigmoid(b * z)
    y.backward(torch.tensor(dY.astype(np.float64)))
    out["swish_beta"] = beta
    out["swish_beta_Y"] = y.detach().numpy().astype(np.float32)
    out["swish_beta_dZ"] = z.grad.numpy().astype(np.float32)
    out["swish_beta_dbeta"] = b.grad.numpy().astype(np.float32)
    return out


LOSS_SAMPLE_STRIDE = 37


def loss_golden() -> dict:
    """Every loss PyTorch has (tests/test_losses.py TORCH_CASES): value and gradient on 6 x 5
    inputs stored whole, and on 400 x 96 inputs (the threaded kernels) regenerated from their
    seed, with a checksum of those inputs and the gradient's row sums, column sums and every
    LOSS_SAMPLE_STRIDE-th element."""
    from test_losses import TORCH_CASES, make_inputs

    F = torch.nn.functional
    out = {}
    for case in TORCH_CASES:
        for size, shape, seed in (("small", (6, 5), 2), ("large", (400, 96), 3)):
            pred, target, p64, t_ref = make_inputs(case, shape=shape, seed=seed)
            p = torch.tensor(p64, requires_grad=True)
            loss = case.torch_fn(p, torch.tensor(t_ref), torch, F)
            loss.backward()
            grad = p.grad.numpy()
            key = f"{case.id}|{size}"
            out[f"{key}|value"] = np.array(loss.item())
            if size == "small":
                out[f"{key}|pred"], out[f"{key}|target"] = pred, target
                out[f"{key}|grad"] = grad
            else:
                out[f"{key}|checksum"] = np.array([p64.sum(), np.asarray(t_ref, np.float64).sum()])
                out[f"{key}|grad_rows"] = grad.sum(axis=1)
                out[f"{key}|grad_cols"] = grad.sum(axis=0)
                out[f"{key}|grad_sample"] = grad.ravel()[::LOSS_SAMPLE_STRIDE]
    return out


def schedule_golden() -> dict:
    from test_schedules import (
        TORCH_ONECYCLE,
        TORCH_SCHEDULES,
        torch_onecycle_values,
        torch_schedule_values,
    )

    out = {key: torch_schedule_values(torch, key) for key in TORCH_SCHEDULES}
    out.update({key: torch_onecycle_values(torch, key) for key in TORCH_ONECYCLE})
    return out


def lbfgs_golden() -> dict:
    from test_optim_second_order import LBFGS_CASES, lbfgs_problem, torch_lbfgs_run

    problem = lbfgs_problem()
    out = {"X": problem["X"], "y": problem["y"]}
    out.update({f"init{i}": w for i, w in enumerate(problem["init"])})
    for case, kwargs in sorted(LBFGS_CASES.items()):
        run = torch_lbfgs_run(torch, problem, kwargs)
        out[f"{case}|losses"] = run["losses"]
        out[f"{case}|counts"] = run["counts"]
        out.update({f"{case}|final{i}": w for i, w in enumerate(run["final"])})
    return out


def main(names) -> None:
    """Write every golden file, or only those named (e.g. torch_optim.npz)."""
    for name, make in (
        ("torch_optim.npz", optim_golden),
        ("torch_norm.npz", norm_golden),
        ("torch_activations.npz", activation_golden),
        ("torch_losses.npz", loss_golden),
        ("torch_schedules.npz", schedule_golden),
        ("torch_lbfgs.npz", lbfgs_golden),
    ):
        if names and name not in names:
            continue
        data = make()
        path = os.path.join(HERE, name)
        np.savez_compressed(path, **data, torch_version=np.array(torch.__version__))
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(data)} arrays)")


if __name__ == "__main__":
    main(sys.argv[1:])

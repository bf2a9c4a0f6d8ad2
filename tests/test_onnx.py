"""fn.export_onnx (fastnet/onnx.py): every layer kind and every activation of the registries,
exported and run in onnxruntime at batch 1, 7 and 300 against model.predict (the reference
is fastnet's own inference, which tests/test_activations.py and the layer tests check against
NumPy and torch); BatchNorm folding, weight norm, residual scale; the errors; the file."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest

import fastnet as fn
from fastnet import _registry

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
fn_onnx = pytest.importorskip("fastnet.onnx")

TOLERANCE = 1e-4  # the bound on the largest absolute difference
BATCHES = (1, 7, 300)
ACTIVATION_ENTRIES = [e for e in _registry.entries("activations") if not e.get("identity")]


def run_ort(path, X):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["Y"], {"X": X})[0]


def assert_round_trip(model, path, opset=None, scale=3.0):
    """Export, then compare onnxruntime with model.predict at every batch size."""
    proto = fn.export_onnx(model, path, opset=opset)
    rng = np.random.default_rng(7)
    for batch in BATCHES:
        X = (scale * rng.standard_normal((batch, model.in_features))).astype(np.float32)
        want, got = model.predict(X), run_ort(path, X)
        assert got.shape == want.shape == (batch, model.out_features)
        diff = float(np.max(np.abs(got.astype(np.float64) - want)))
        assert diff <= TOLERANCE, f"batch {batch}: max abs difference {diff:.3g}"
    return proto


def op_types(proto):
    return [node.op_type for node in proto.graph.node]


def train_a_few_steps(model, steps=8, seed=0):
    """Adam steps on random data: BatchNorm running statistics and every weight move away
    from their initial values (the export must read the current ones)."""
    rng = np.random.default_rng(seed)
    X = (2.0 * rng.standard_normal((64, model.in_features)) + 0.5).astype(np.float32)
    y = rng.standard_normal((64, model.out_features)).astype(np.float32)
    opt = fn.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        model.train_step(X, y, "mse", opt)
    return model


def randomize(model, seed=1):
    """Every learned tensor (PReLU slopes, norms' weights and biases) set to random values."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data = p.data + 0.3 * rng.standard_normal(p.shape)
    return model


# ----------------------------------------------------------------- activations
# Registry name -> non-default settings of its layer (every registry entry needs a row).
ACTIVATION_SETTINGS = {
    "relu": {},
    "leaky_relu": {"alpha": 0.2},
    "prelu": {"init": -0.3},
    "rrelu": {"lower": 0.05, "upper": 0.45},
    "elu": {"alpha": 0.7},
    "selu": {},
    "sigmoid": {},
    "tanh": {},
    "softmax": {},
    "gelu": {},
    "gelu_tanh": {},
    "swish": {"beta": 1.7, "learnable": True},  # x·σ(βx) with one learned β per feature
    "mish": {},
}
# Dense's fused activation takes one setting, alpha (LeakyReLU slope, ELU alpha).
DENSE_ALPHA = {"leaky_relu": 0.3, "elu": 1.4}


def activation_layer(name, features):
    cls = fn.nn.ACTIVATION_LAYERS[name]
    entry = _registry.lookup("activations", name)
    args = (features,) if entry.get("learned") else ()
    return cls(*args, **ACTIVATION_SETTINGS[name])


@pytest.mark.parametrize("entry", ACTIVATION_ENTRIES, ids=lambda e: e["name"])
def test_every_registry_activation_has_an_export_and_a_test_row(entry):
    assert entry["name"] in fn_onnx.ACTIVATION_EXPORTS, f"{entry['name']}: no ONNX exporter"
    assert entry["name"] in ACTIVATION_SETTINGS, f"{entry['name']}: add a test row"


# 9: the lowest opset with Erf (GELU); 17: the default; 20: native Gelu (and Mish, from 18).
@pytest.mark.parametrize("opset", (9, 17, 20))
@pytest.mark.parametrize("entry", ACTIVATION_ENTRIES, ids=lambda e: e["name"])
def test_activation_layer_and_fused_activation_round_trip(entry, opset, tmp_path):
    name = entry["name"]
    alpha = DENSE_ALPHA.get(name)
    fused = {"activation": name, **({"alpha": alpha} if alpha is not None else {})}
    model = fn.Sequential(
        fn.Dense(6, 5, **fused),
        fn.Dense(5, 5),
        activation_layer(name, 5),
        fn.Dense(5, 4),
        seed=3,
    )
    randomize(model)
    assert_round_trip(model, tmp_path / "m.onnx", opset=opset)


@pytest.mark.parametrize("opset", (9, 17, 20))
@pytest.mark.parametrize("entry", ACTIVATION_ENTRIES, ids=lambda e: e["name"])
def test_activation_over_a_wide_range(entry, opset, tmp_path):
    # PReLU with slope 1 is the identity: the activation sees the inputs, -300..300, where the
    # written-out formulas (GELU, Mish, Swish) must neither overflow nor lose precision.
    model = fn.Sequential(fn.PReLU(6, init=1.0), activation_layer(entry["name"], 6), seed=0)
    fn.export_onnx(model, tmp_path / "m.onnx", opset=opset)
    X = np.linspace(-300, 300, 6 * 200, dtype=np.float32).reshape(200, 6)
    want, got = model.predict(X), run_ort(tmp_path / "m.onnx", X)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=TOLERANCE)


@pytest.mark.parametrize("beta", (1.0, 2.5, -0.5))
def test_swish_fixed_beta_round_trip(beta, tmp_path):
    # x·Sigmoid(β·x); β = 1 exports as SiLU without the product.
    model = fn.Sequential(fn.Dense(6, 5), fn.Swish(beta=beta), fn.Dense(5, 3), seed=2)
    randomize(model)
    proto = assert_round_trip(model, tmp_path / "m.onnx")
    assert op_types(proto).count("Mul") == (1 if beta == 1.0 else 2)


def test_native_ops_from_their_opsets(tmp_path):
    model = fn.Sequential(fn.Dense(4, 4, activation="gelu"), fn.Mish(), fn.GELU("tanh"), seed=0)
    assert "Gelu" not in op_types(fn.export_onnx(model, tmp_path / "a.onnx", opset=17))
    assert "Erf" in op_types(fn.export_onnx(model, tmp_path / "a.onnx", opset=17))
    assert "Mish" in op_types(fn.export_onnx(model, tmp_path / "b.onnx", opset=18))
    assert op_types(fn.export_onnx(model, tmp_path / "c.onnx", opset=20)).count("Gelu") == 2


# ----------------------------------------------------------------- layer kinds
def _bn_model():
    return fn.Sequential(fn.Dense(6, 5), fn.BatchNorm(5), fn.ReLU(), fn.Dense(5, 3), seed=0)


# Case name -> (model factory, whether it is trained first, ops that must / must not appear).
LAYER_CASES = {
    "dense": (lambda: fn.Sequential(fn.Dense(6, 4), seed=0), False, {"Gemm"}, set()),
    "dense_no_bias": (
        lambda: fn.Sequential(fn.Dense(6, 4, bias=False), seed=0),
        False,
        {"MatMul"},
        {"Gemm"},
    ),
    "dense_weight_norm": (
        lambda: fn.Sequential(
            fn.Dense(6, 5, weight_norm=True, activation="tanh"),
            fn.Dense(5, 3, weight_norm=True, bias=False),
            seed=0,
        ),
        True,
        {"Gemm", "MatMul", "Tanh"},
        set(),
    ),
    "batchnorm_folded": (_bn_model, True, {"Gemm", "Relu"}, {"BatchNormalization"}),
    "batchnorm_folded_through_dropout": (
        lambda: fn.Sequential(
            fn.Dense(6, 5, bias=False),
            fn.Dropout(0.3),
            fn.BatchNorm(5, affine=False),
            fn.AlphaDropout(0.2),
            fn.Dense(5, 3),
            seed=0,
        ),
        True,
        {"Gemm"},
        {"BatchNormalization", "MatMul"},
    ),
    "batchnorm_after_an_activation": (
        lambda: fn.Sequential(
            fn.Dense(6, 5, activation="relu"), fn.BatchNorm(5), fn.Dense(5, 3), seed=0
        ),
        True,
        {"BatchNormalization"},
        set(),
    ),
    "batchnorm_first": (
        lambda: fn.Sequential(fn.BatchNorm(6), fn.ReLU(), fn.Dense(6, 3), seed=0),
        True,
        {"BatchNormalization", "Relu"},
        set(),
    ),
    "batchnorm_no_affine": (
        lambda: fn.Sequential(fn.Dense(6, 5), fn.Tanh(), fn.BatchNorm(5, affine=False), seed=0),
        True,
        {"BatchNormalization"},
        set(),
    ),
    "layernorm": (
        lambda: fn.Sequential(fn.Dense(6, 5), fn.LayerNorm(5, eps=1e-3), fn.Dense(5, 3), seed=0),
        True,
        {"LayerNormalization"},
        set(),
    ),
    "layernorm_no_affine": (
        lambda: fn.Sequential(fn.LayerNorm(6, elementwise_affine=False), fn.Dense(6, 3), seed=0),
        False,
        {"LayerNormalization"},
        set(),
    ),
    "dropout": (
        lambda: fn.Sequential(
            fn.Dense(6, 5, activation="selu"), fn.AlphaDropout(0.1), fn.Dropout(0.5), seed=0
        ),
        False,
        {"Gemm", "Selu"},
        set(),
    ),
    "residual_with_scale": (
        lambda: fn.Sequential(
            fn.Dense(6, 5, activation="relu"),
            fn.Residual(fn.Dense(5, 5), fn.BatchNorm(5), fn.ReLU(), fn.Dense(5, 5), scale=0.3),
            fn.Dense(5, 3),
            seed=0,
        ),
        True,
        {"Add", "Mul"},
        {"BatchNormalization"},
    ),
    "residual_nested": (
        lambda: fn.Sequential(
            fn.Residual(
                fn.LayerNorm(6),
                fn.Residual(fn.Dense(6, 6, activation="gelu"), fn.Dropout(0.2)),
                fn.BatchNorm(6),
                fn.PReLU(6),
            ),
            fn.Dense(6, 3),
            seed=0,
        ),
        True,
        {"Add", "BatchNormalization", "PRelu"},
        set(),
    ),
}


def _kinds(layers):
    out = set()
    for layer in layers:
        out.add(layer.kind)
        if layer.kind == "residual":
            out |= _kinds(layer.layers)
    return out


@pytest.mark.parametrize("entry", _registry.entries("layers"), ids=lambda e: e["name"])
def test_every_registry_layer_kind_has_an_export_case(entry):
    covered = set().union(*(_kinds(factory().layers) for factory, *_ in LAYER_CASES.values()))
    assert entry["name"] in covered, f"{entry['name']}: add a LAYER_CASES row"


@pytest.mark.parametrize("opset", (13, 17))  # 13: LayerNorm written out; 17: its op
@pytest.mark.parametrize("case", LAYER_CASES, ids=str)
def test_layer_kinds_round_trip(case, opset, tmp_path):
    factory, trained, present, absent = LAYER_CASES[case]
    model = factory()
    if trained:
        train_a_few_steps(model)
    proto = assert_round_trip(model, tmp_path / "m.onnx", opset=opset)
    ops = set(op_types(proto))
    if opset < 17:
        present = {"ReduceMean" if op == "LayerNormalization" else op for op in present}
    assert present <= ops and not (absent & ops), ops


def test_folded_batchnorm_uses_the_trained_running_statistics(tmp_path):
    model = train_a_few_steps(_bn_model())
    bn = model.layers[1]
    assert np.abs(bn.running_mean).max() > 0.05 and np.abs(bn.running_var - 1).max() > 0.05
    proto = assert_round_trip(model, tmp_path / "m.onnx")
    # The folded weights: W·s and (b − mean)·s + β, s = γ/√(var + eps), in float64.
    dense = model.layers[0]
    W, b = dense.parameters()[0].data.astype(np.float64), dense.parameters()[1].data
    g, beta = (p.data.astype(np.float64) for p in bn.parameters())
    s = g / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    gemm = proto.graph.node[0]
    np.testing.assert_allclose(inits[gemm.input[1]], W * s, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        inits[gemm.input[2]], (b - bn.running_mean) * s + beta, rtol=1e-6, atol=1e-6
    )


def test_weight_norm_is_resolved(tmp_path):
    model = fn.Sequential(fn.Dense(6, 5, weight_norm=True, bias=False), seed=0)
    train_a_few_steps(model)
    v, g = (p.data.astype(np.float64) for p in model.parameters())
    proto = assert_round_trip(model, tmp_path / "m.onnx")
    W = onnx.numpy_helper.to_array(proto.graph.initializer[0])
    np.testing.assert_allclose(W, g * v / np.linalg.norm(v, axis=0), rtol=1e-6)


def test_weight_layout_is_fastnets_in_out(tmp_path):
    model = fn.Sequential(fn.Dense(6, 4), seed=0)
    proto = fn.export_onnx(model, tmp_path / "m.onnx")
    (gemm,) = proto.graph.node
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    assert attrs.get("transB", 0) == 0
    W = onnx.numpy_helper.to_array(proto.graph.initializer[0])
    assert W.shape == (6, 4) and np.array_equal(W, model.parameters()[0].data)


# ----------------------------------------------------------------- the graph and the file
def test_graph_has_a_symbolic_batch_dimension(tmp_path):
    proto = fn.export_onnx(_bn_model(), tmp_path / "m.onnx")
    for value, width in ((proto.graph.input[0], 6), (proto.graph.output[0], 3)):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and not dims[0].HasField("dim_value")
        assert dims[1].dim_value == width
    assert (tmp_path / "m.onnx").read_bytes() == proto.SerializeToString()
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"), full_check=True)


def test_file_permissions_honour_the_umask(tmp_path):
    path = tmp_path / "m.onnx"
    old = os.umask(0o027)
    try:
        fn.export_onnx(_bn_model(), path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary file left


# ----------------------------------------------------------------- errors
class OpaqueDense(fn.Dense):
    """A layer kind the export does not know (it runs as a Dense in the C++ core)."""

    kind = "opaque"


def test_unknown_layer_kind_names_the_layer(tmp_path):
    model = fn.Sequential(fn.Dense(4, 4), fn.Residual(fn.ReLU(), OpaqueDense(4, 4)), seed=0)
    with pytest.raises(TypeError, match=r"layer 1\.1 \(OpaqueDense, kind 'opaque'\)"):
        fn.export_onnx(model, tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)


def test_bad_model_path_and_opset(tmp_path):
    model = _bn_model()
    with pytest.raises(TypeError, match="model must be a fastnet Sequential"):
        fn.export_onnx(model.layers[0], tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="path"):
        fn.export_onnx(model, 3)
    with pytest.raises(ValueError, match="path"):
        fn.export_onnx(model, "")
    with pytest.raises(FileNotFoundError):
        fn.export_onnx(model, tmp_path / "missing" / "m.onnx")
    with pytest.raises(IsADirectoryError):
        fn.export_onnx(model, tmp_path)
    for bad in ("17", 17.0, True):
        with pytest.raises(TypeError, match="opset"):
            fn.export_onnx(model, tmp_path / "m.onnx", opset=bad)
    for bad in (fn_onnx.MIN_OPSET - 1, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(ValueError, match="opset must be in"):
            fn.export_onnx(model, tmp_path / "m.onnx", opset=bad)
    assert not os.listdir(tmp_path)


def test_an_existing_file_survives_a_failed_export(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    gelu = fn.Sequential(fn.Dense(4, 4), fn.GELU(), seed=0)
    with pytest.raises(ValueError, match=r"layer 1 \(GELU, kind 'activation'\).*opset >= 9"):
        fn.export_onnx(gelu, path, opset=8)
    fused = fn.Sequential(fn.Dense(4, 4, activation="gelu"), seed=0)
    with pytest.raises(ValueError, match=r"layer 0 \(Dense, kind 'dense'\).*opset >= 9"):
        fn.export_onnx(fused, path, opset=8)
    assert path.read_bytes() == b"old"


def test_missing_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ImportError, match=r"pip install \"fastnet\[onnx\]\""):
        fn.export_onnx(_bn_model(), tmp_path / "m.onnx")

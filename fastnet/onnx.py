"""ONNX export of a Sequential: ``fn.export_onnx(model, path)`` writes a graph that computes
``model.predict`` in any ONNX runtime (checked against onnxruntime by tests/test_onnx.py).

The graph is built with the ``onnx`` package's helpers (``onnx.helper``, ``onnx.numpy_helper``)
and checked with ``onnx.checker`` before it is written. The ``onnx`` package is an optional
dependency (``pip install "fastnet[onnx]"``); it is imported when an export runs.

Weight layout: fastnet stores a Dense weight as ``(in_features, out_features)`` and computes
``X·W + b``; torch.nn.Linear stores the transpose, ``(out_features, in_features)``, and computes
``X·Wᵀ + b``. The export keeps fastnet's layout: ``Gemm(X, W, b)`` with ``transB=0`` (or
``MatMul`` for a Dense without bias). To load a fastnet weight into torch, use ``W.T``.

Inference semantics, layer by layer (what ``predict`` computes):

- Dense: Gemm; weight normalization resolved to W = g·v/‖v‖ (per output column, in
  float64); its fused activation follows as its own node(s).
- BatchNorm: folded into the Dense just before it (dropout in between is the identity at
  inference) when that Dense has no fused activation: W' = W·s, b' = (b − mean)·s + β with
  s = γ/√(running_var + eps), computed in float64; otherwise a BatchNormalization node.
- LayerNorm: LayerNormalization (opset ≥ 17), else its formula with ReduceMean.
- Dropout, AlphaDropout: the identity (no node).
- Residual: the block's layers, then ``Add(x, scale·f(x))``.
- Activations: one exporter per activation registry entry (``ACTIVATION_EXPORTS``). GELU is a
  native op from opset 20 and Mish from 18; below, their formulas are written out
  (GELU: 0.5·x·(1 + erf(x/√2)) or the tanh form, Mish: x·tanh(softplus(x))); Swish is
  x·sigmoid(x); RReLU at inference is LeakyReLU with slope (lower + upper)/2.
"""

from __future__ import annotations

import math

import numpy as np

from . import __version__, _registry
from ._files import atomic_write_bytes, check_path

__all__ = ["export_onnx", "DEFAULT_OPSET", "MIN_OPSET", "ACTIVATION_EXPORTS"]

# 17: the first opset with LayerNormalization, read by onnxruntime >= 1.13 (late 2022).
DEFAULT_OPSET = 17
# 7: numpy-style broadcasting in Add, Mul and PRelu (every graph here relies on it).
MIN_OPSET = 7
INPUT_NAME, OUTPUT_NAME, BATCH_DIM = "X", "Y", "batch"

# SELU's constants, as in csrc/activations/activation.cpp (Klambauer et al. 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# Weight normalization's floor on ‖v‖ (csrc/layers/weightnorm.cpp, kMinNorm).
_MIN_NORM = 1e-12


def _import_onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            'fastnet.export_onnx needs the onnx package: pip install "fastnet[onnx]"'
        ) from e
    return onnx


class _Graph:
    """Nodes and initializers being collected, with unique names and the opset checks."""

    def __init__(self, onnx, opset: int):
        self.helper = onnx.helper
        self.numpy_helper = onnx.numpy_helper
        self.opset = opset
        self.nodes, self.initializers = [], []
        self._count = 0

    def _name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def require(self, opset: int, what: str, where: str) -> None:
        """ValueError naming the layer when the chosen opset lacks an op it needs."""
        if self.opset < opset:
            raise ValueError(
                f"{where}: {what} needs opset >= {opset}, got opset={self.opset}; "
                f"export with a higher opset"
            )

    def const(self, value, base: str) -> str:
        """A float32 initializer (a scalar or an array) and its name."""
        name = self._name(base)
        array = np.asarray(value, dtype=np.float64).astype(np.float32)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs, **attributes) -> str:
        """Append a one-output node; returns the output's name."""
        out = self._name(op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], **attributes))
        return out


# ----- activations: one exporter per registry entry -----
# Each takes (graph, x, settings, where) and returns the output name. ``settings`` holds the
# activation's parameters as the layer applies them: "alpha" (LeakyReLU, ELU), "lower" and
# "upper" (RReLU), "slope" (PReLU's learned vector), "beta" (Swish: a number, or the learned
# vector; absent from a Dense's fused Swish, which has beta = 1).


def _relu(g, x, s, where):
    return g.node("Relu", [x])


def _leaky_relu(g, x, s, where):
    return g.node("LeakyRelu", [x], alpha=float(s["alpha"]))


def _prelu(g, x, s, where):
    return g.node("PRelu", [x, g.const(s["slope"], "prelu_slope")])


def _rrelu(g, x, s, where):
    # fastnet's inference slope: 0.5f * (lower + upper) in float32 (activation.cpp).
    slope = np.float32(0.5) * (np.float32(s["lower"]) + np.float32(s["upper"]))
    return g.node("LeakyRelu", [x], alpha=float(slope))


def _elu(g, x, s, where):
    return g.node("Elu", [x], alpha=float(s["alpha"]))


def _selu(g, x, s, where):
    return g.node("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_SCALE)


def _sigmoid(g, x, s, where):
    return g.node("Sigmoid", [x])


def _tanh(g, x, s, where):
    return g.node("Tanh", [x])


def _softmax(g, x, s, where):
    # Over the features of each row; for a 2-D input axis=1 means the same in every opset.
    return g.node("Softmax", [x], axis=1)


def _gelu(g, x, s, where):
    if g.opset >= 20:
        return g.node("Gelu", [x], approximate="none")
    g.require(9, "GELU (Erf)", where)
    # 0.5·x·(1 + erf(x/√2)) (Hendrycks & Gimpel 2016).
    erf = g.node("Erf", [g.node("Mul", [x, g.const(1.0 / math.sqrt(2.0), "inv_sqrt2")])])
    one_plus = g.node("Add", [erf, g.const(1.0, "one")])
    return g.node("Mul", [g.node("Mul", [x, one_plus]), g.const(0.5, "half")])


def _gelu_tanh(g, x, s, where):
    if g.opset >= 20:
        return g.node("Gelu", [x], approximate="tanh")
    # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Hendrycks & Gimpel 2016).
    cube = g.node("Mul", [x, g.node("Mul", [x, x])])
    inner = g.node("Add", [x, g.node("Mul", [cube, g.const(0.044715, "gelu_coef")])])
    t = g.node("Tanh", [g.node("Mul", [inner, g.const(math.sqrt(2.0 / math.pi), "sqrt_2_pi")])])
    one_plus = g.node("Add", [t, g.const(1.0, "one")])
    return g.node("Mul", [g.node("Mul", [x, one_plus]), g.const(0.5, "half")])


def _swish(g, x, s, where):
    # x·σ(βx) (Ramachandran et al. 2017); β = 1 (SiLU) needs no product.
    beta = np.asarray(s.get("beta", 1.0), dtype=np.float64)
    if beta.ndim == 0 and float(beta) == 1.0:
        return g.node("Mul", [x, g.node("Sigmoid", [x])])
    scaled = g.node("Mul", [x, g.const(beta, "swish_beta")])
    return g.node("Mul", [x, g.node("Sigmoid", [scaled])])


def _mish(g, x, s, where):
    if g.opset >= 18:
        return g.node("Mish", [x])
    return g.node("Mul", [x, g.node("Tanh", [g.node("Softplus", [x])])])


# Registry name -> exporter. tests/test_onnx.py checks that every activation registry entry
# has one, so an activation added to the registry cannot be left out of the export.
ACTIVATION_EXPORTS = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "prelu": _prelu,
    "rrelu": _rrelu,
    "elu": _elu,
    "selu": _selu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "softmax": _softmax,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "swish": _swish,
    "mish": _mish,
}


def _activation(g, x, act: str, settings: dict, where: str) -> str:
    exporter = ACTIVATION_EXPORTS.get(act)
    if exporter is None:
        raise ValueError(f"{where}: activation {act!r} has no ONNX export")
    return exporter(g, x, settings, where)


def _data64(layer, name: str) -> np.ndarray:
    return np.asarray(layer._params[name].data, dtype=np.float64)


# ----- layers -----
class _PendingDense:
    """A Dense not yet emitted: a BatchNorm right after it may still fold into W and b."""

    def __init__(self, layer, where: str):
        self.where = where
        if layer.weight_norm:  # W = g·v/‖v‖ per output column (Salimans & Kingma 2016)
            v = _data64(layer, "weight_v")
            norm = np.maximum(np.sqrt((v * v).sum(axis=0)), _MIN_NORM)
            self.W = v * (_data64(layer, "weight_g") / norm)[None, :]
        else:
            self.W = _data64(layer, "weight")
        self.b = _data64(layer, "bias") if layer.bias else None
        self.act = layer.activation
        self.settings = {"alpha": layer.alpha}
        if self.act == "rrelu":  # Dense carries no RReLU bounds: the C++ defaults apply
            entry = _registry.lookup("activations", "rrelu")
            self.settings.update({p["name"]: p["default"] for p in entry["params"]})
        if "slope" in layer._params:
            self.settings["slope"] = _data64(layer, "slope")

    def fold(self, bn) -> None:
        """W' = W·s, b' = (b − mean)·s + β, s = γ/√(running_var + eps), in float64."""
        gamma = _data64(bn, "weight") if bn.affine else 1.0
        beta = _data64(bn, "bias") if bn.affine else 0.0
        s = gamma / np.sqrt(_data64(bn, "running_var") + bn.eps)
        b = self.b if self.b is not None else 0.0
        self.W = self.W * s[None, :]
        self.b = (b - _data64(bn, "running_mean")) * s + beta

    def emit(self, g, x) -> str:
        W = g.const(self.W, "weight")
        if self.b is None:
            y = g.node("MatMul", [x, W])
        else:  # fastnet's W is (in, out): no transpose (torch's Linear would need transB=1)
            y = g.node("Gemm", [x, W, g.const(self.b, "bias")], transB=0)
        if self.act is not None:
            y = _activation(g, y, self.act, self.settings, self.where)
        return y


def _batchnorm(g, x, layer, where):
    n = layer.features
    gamma = _data64(layer, "weight") if layer.affine else np.ones(n)
    beta = _data64(layer, "bias") if layer.affine else np.zeros(n)
    inputs = [
        x,
        g.const(gamma, "bn_scale"),
        g.const(beta, "bn_bias"),
        g.const(_data64(layer, "running_mean"), "bn_mean"),
        g.const(_data64(layer, "running_var"), "bn_var"),
    ]
    return g.node("BatchNormalization", inputs, epsilon=float(layer.eps))


def _layernorm(g, x, layer, where):
    n = layer.features
    affine = layer.elementwise_affine
    weight = _data64(layer, "weight") if affine else np.ones(n)
    bias = _data64(layer, "bias") if affine else np.zeros(n)
    if g.opset >= 17:
        inputs = [x, g.const(weight, "ln_scale"), g.const(bias, "ln_bias")]
        return g.node("LayerNormalization", inputs, axis=-1, epsilon=float(layer.eps))
    # (x − mean)/√(var + eps)·weight + bias, biased variance over the features (Ba et al. 2016);
    # ReduceMean takes its axes as an attribute up to opset 17.
    centered = g.node("Sub", [x, g.node("ReduceMean", [x], axes=[1], keepdims=1)])
    var = g.node("ReduceMean", [g.node("Mul", [centered, centered])], axes=[1], keepdims=1)
    std = g.node("Sqrt", [g.node("Add", [var, g.const(layer.eps, "ln_eps")])])
    y = g.node("Div", [centered, std])
    if affine:
        y = g.node(
            "Add", [g.node("Mul", [y, g.const(weight, "ln_scale")]), g.const(bias, "ln_bias")]
        )
    return y


def _activation_layer(g, x, layer, where):
    settings = dict(layer._settings())
    for learned in ("slope", "beta"):  # PReLU's slopes, a learned Swish beta
        if learned in layer._params:
            settings[learned] = _data64(layer, learned)
    return _activation(g, x, layer.act, settings, where)


def _layers(g, layers, x: str, prefix: str) -> str:
    """Emit ``layers`` in order from the tensor ``x``; returns the output's name."""
    pending = None
    for i, layer in enumerate(layers):
        where = f"layer {prefix}{i} ({type(layer).__name__}, kind {layer.kind!r})"
        kind = layer.kind
        if kind in ("dropout", "alphadropout"):
            continue  # the identity at inference
        if kind == "batchnorm" and pending is not None and pending.act is None:
            pending.fold(layer)
            continue
        if pending is not None:
            x, pending = pending.emit(g, x), None
        if kind == "dense":
            pending = _PendingDense(layer, where)
        elif kind == "batchnorm":
            x = _batchnorm(g, x, layer, where)
        elif kind == "layernorm":
            x = _layernorm(g, x, layer, where)
        elif kind == "activation":
            x = _activation_layer(g, x, layer, where)
        elif kind == "residual":
            branch = _layers(g, layer.layers, x, f"{prefix}{i}.")
            if layer.scale != 1.0:
                branch = g.node("Mul", [branch, g.const(layer.scale, "residual_scale")])
            x = g.node("Add", [x, branch])
        else:
            raise TypeError(f"{where} cannot be exported to ONNX: unknown layer kind")
    if pending is not None:
        x = pending.emit(g, x)
    return x


def _check_opset(opset, onnx) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int or None, got {type(opset).__name__}")
    highest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= highest:
        raise ValueError(
            f"opset must be in [{MIN_OPSET}, {highest}] (the installed onnx knows up to "
            f"{highest}), got {opset}"
        )
    return int(opset)


def export_onnx(model, path, opset=None):
    """Write ``model`` as an ONNX file whose output equals ``model.predict``.

    The graph has one input ``"X"`` of shape ``("batch", in_features)`` and one output ``"Y"``
    of shape ``("batch", out_features)``, both float32, with a symbolic batch dimension. It is
    built with ``onnx.helper`` and checked with ``onnx.checker.check_model``; the file is
    written atomically (a temporary file renamed over ``path``), with the permissions
    ``open(path, "w")`` would give. onnxruntime reproduces ``model.predict`` to within 1e-4
    (largest absolute difference; tests/test_onnx.py checks every layer kind and activation).

    Weight layout: a fastnet Dense weight is ``(in_features, out_features)`` and the layer
    computes ``X·W + b``; it is exported as ``Gemm(X, W, b, transB=0)`` (``MatMul`` without
    bias), the weight unchanged. torch.nn.Linear keeps ``(out_features, in_features)``: a
    fastnet weight ``W`` is torch's ``W.T``. BatchNorm right after a Dense without a fused
    activation is folded into its weights (in float64); weight normalization is resolved to
    ``W = g·v/‖v‖``; dropout is left out (the identity at inference). See :mod:`fastnet.onnx`
    for every layer's mapping.

    Parameters
    ----------
    model : Sequential
        The model to export, with its current weights and BatchNorm running statistics.
    path : str or os.PathLike
        The file to write (``.onnx`` by convention).
    opset : int, optional
        The ONNX opset (default :data:`DEFAULT_OPSET`, 17: LayerNormalization is an op; GELU
        and Mish are written out as their formulas below opsets 20 and 18). From
        :data:`MIN_OPSET` (7) to the highest the installed ``onnx`` knows.

    Returns
    -------
    onnx.ModelProto
        The model as written.

    Raises
    ------
    ImportError
        If the ``onnx`` package is missing (``pip install "fastnet[onnx]"``).
    TypeError
        If ``model`` is not a Sequential, ``path`` is not a path, ``opset`` is not an int, or a
        layer is of a kind the export does not know (the message names the layer's index).
    ValueError
        If ``opset`` is out of range or too low for a layer (the message names the layer), or
        ``path`` is empty.
    OSError
        If the file cannot be written (a missing directory, no permission).

    Examples
    --------
    >>> import os, tempfile
    >>> import onnx
    >>> import fastnet as fn
    >>> model = fn.Sequential(fn.Dense(4, 8), fn.BatchNorm(8), fn.ReLU(), fn.Dense(8, 3), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> proto = fn.export_onnx(model, path)
    >>> [node.op_type for node in onnx.load(path).graph.node]  # BatchNorm folded into Gemm
    ['Gemm', 'Relu', 'Gemm']
    """
    from .nn.sequential import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastnet Sequential, got {type(model).__name__}")
    path = check_path(path)
    onnx = _import_onnx()
    opset = _check_opset(opset, onnx)
    helper = onnx.helper
    g = _Graph(onnx, opset)
    y = _layers(g, model.layers, INPUT_NAME, "")
    # The first layer fixes the width (a Dense, a norm, PReLU or a Residual), so there is a
    # node, and the last node appended makes the output.
    assert g.nodes[-1].output[0] == y
    g.nodes[-1].output[0] = OUTPUT_NAME
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        "fastnet",
        [helper.make_tensor_value_info(INPUT_NAME, f32, [BATCH_DIM, model.in_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, f32, [BATCH_DIM, model.out_features])],
        g.initializers,
    )
    opset_ids = [helper.make_opsetid("", opset)]
    proto = helper.make_model(
        graph, opset_imports=opset_ids, producer_name="fastnet", producer_version=__version__
    )
    # The oldest IR version that carries this opset, so that older runtimes read the file.
    proto.ir_version = helper.find_min_ir_version_for(opset_ids)
    onnx.checker.check_model(proto, full_check=True)
    atomic_write_bytes(path, proto.SerializeToString())
    return proto

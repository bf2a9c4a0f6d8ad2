"""ONNX Runtime as a benchmark peer: a fastnet model exported with fn.export_onnx (BatchNorm
folded into the Gemm before it, dropout left out), run by the CPU execution provider; its int8
twin from onnxruntime.quantization.quantize_dynamic (QuantType.QInt8: int8 weights, activations
quantized per call, as ORT's own CPU serving recipe does).

Every function returns None where onnx or onnxruntime is not installed.
"""

from __future__ import annotations

import importlib.util
import os

import fastnet as fn

INPUT, OUTPUT = "X", "Y"


def available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def export(model, directory: str, name: str = "model"):
    """fn.export_onnx of ``model`` into ``directory``: the .onnx path (None without onnx)."""
    if not available():
        return None
    path = os.path.join(directory, f"{name}.onnx")
    fn.export_onnx(model, path)
    return path


def quantize_int8(fp32_path, directory: str):
    """quantize_dynamic(QInt8 weights) of an exported graph: the int8 .onnx path."""
    if fp32_path is None:
        return None
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, _ = os.path.splitext(os.path.basename(fp32_path))
    path = os.path.join(directory, f"{root}.int8.onnx")
    quantize_dynamic(fp32_path, path, weight_type=QuantType.QInt8)
    return path


def make_predict(path, threads=None):
    """NumPy in, NumPy out: ``session.run`` of the graph at ``path``. ``threads``: ORT's
    intra_op_num_threads (None: its default pool, one thread per core)."""
    if path is None:
        return None
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
    run = sess.run

    def predict(X):
        return run([OUTPUT], {INPUT: X})[0]

    return predict

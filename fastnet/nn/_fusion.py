"""Compiling a list of Python layers into C++ layer configurations, with layer fusion.

Fusion rule (docs/architecture.md, "Fusion"): a BatchNorm directly followed by a ReLU layer is
sent to C++ as ONE layer, ``{"kind": "batchnorm", ..., "activation": "relu"}``, which applies
the ReLU in its normalize pass (and uses its output as the ReLU mask in backward). The ReLU
stays in ``model.layers`` for the user; it simply has no C++ layer of its own (its entry in
``core_index`` is None). Sequential and Residual both compile their layers with this module.
"""

from __future__ import annotations


def _fuses_into_previous(prev, layer) -> bool:
    return (
        prev is not None
        and prev.kind == "batchnorm"
        and layer.kind == "activation"
        and layer.activation_name == "relu"
    )


def compile_layers(layers, width: int, where: str = "model"):
    """Configurations for the C++ core, the C++ index of each Python layer (None when fused
    into the previous one) and the widths between layers (widths[0] = input width).

    ValueError names the layer whose expected input width does not match."""
    configs, core_index, widths = [], [], [width]
    prev = None
    for i, layer in enumerate(layers):
        need = layer.input_features()
        if need is not None and need != width:
            raise ValueError(
                f"{where}: layer {i} ({layer!r}) expects {need} input features but "
                f"the previous layer gives {width}"
            )
        cfg = layer._config(width)
        if _fuses_into_previous(prev, layer):
            configs[-1]["activation"] = "relu"
            core_index.append(None)
            prev = None  # one activation per BatchNorm
        else:
            configs.append(cfg)
            core_index.append(len(configs) - 1)
            prev = layer
        width = layer.output_features(width)
        widths.append(width)
    return configs, core_index, widths


# Layers the "auto" initializer looks through when it searches the activation after a Dense.
TRANSPARENT_KINDS = ("batchnorm", "layernorm", "dropout", "alphadropout")


def activation_after(layers, i: int):
    """The activation that follows layers[i], looking through normalization and dropout."""
    for layer in layers[i + 1 :]:
        if layer.kind == "activation":
            return layer.activation_name
        if layer.kind in TRANSPARENT_KINDS:
            continue
        break
    return None


def needs_batch_statistics(layers) -> bool:
    """Whether training these layers needs at least two rows (BatchNorm anywhere inside)."""
    return any(layer._batch_statistics for layer in layers)

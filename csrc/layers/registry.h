// The layer registry: every layer kind registers itself (a static LayerRegistrar in its own
// file) with its ComponentInfo — config keys with types, defaults and ranges, and the
// capabilities "batch_statistics" (bool), "buffers" (arena tensors that are state, not
// learned) and "activation_params" (the settings also admit the named activation's params).
// make_layer checks a configuration against the entry before the layer is built, so the
// factory never changes when a layer is added.
#pragma once
#include <memory>
#include <vector>

#include "core/spec.h"
#include "layers/layer.h"

namespace fastnet {

// Builds a layer from a checked configuration (defaults filled in).
using LayerMaker = std::unique_ptr<Layer> (*)(const LayerConfig& checked);

struct LayerEntry {
  ComponentInfo info;
  LayerMaker make;
};

const std::vector<LayerEntry>& layer_entries();

struct LayerRegistrar {
  LayerRegistrar(ComponentInfo info, LayerMaker make);
};

// Checks `raw` against its kind's entry (ValueError naming the key and the kind for an unknown
// key, a missing required value or one out of range; TypeError for a wrong type), then builds it.
std::unique_ptr<Layer> make_layer(const LayerConfig& raw);

}  // namespace fastnet

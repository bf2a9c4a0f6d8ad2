#include "layers/registry.h"

#include <stdexcept>

#include "activations/activation.h"

namespace fastnet {

namespace {
std::vector<LayerEntry>& entries() {
  static std::vector<LayerEntry> v;  // built during static initialisation, read-only after
  return v;
}
}  // namespace

const std::vector<LayerEntry>& layer_entries() { return entries(); }

LayerRegistrar::LayerRegistrar(ComponentInfo info, LayerMaker make) {
  // Every entry states both capabilities Python reads, false / none unless the layer says so.
  if (!info.cap("batch_statistics")) info.caps.emplace_back("batch_statistics", false);
  if (!info.cap("buffers")) info.caps.emplace_back("buffers", std::vector<std::string>{});
  entries().push_back({std::move(info), make});
}

std::unique_ptr<Layer> make_layer(const LayerConfig& raw) {
  const LayerEntry* e = find_entry(layer_entries(), raw.kind);
  if (!e)
    throw std::invalid_argument("unknown layer kind '" + raw.kind +
                                "'; expected one of: " + entry_names(layer_entries()));
  std::vector<const ComponentInfo*> specs{&e->info};
  if (e->info.flag("activation_params")) {
    // The activation's own settings (alpha, lower, ...) travel in the layer's configuration.
    auto it = raw.values.str.find("activation");
    if (it != raw.values.str.end()) specs.push_back(&activation_entry(it->second).info);
  }
  LayerConfig checked;
  checked.kind = e->info.name;
  checked.values = check_settings(e->info.name + " layer", specs, raw.values);
  checked.children = raw.children;
  auto layer = e->make(checked);
  layer->batch_statistics = layer->batch_statistics || e->info.flag("batch_statistics");
  return layer;
}

}  // namespace fastnet

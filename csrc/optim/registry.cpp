#include "optim/registry.h"

#include <stdexcept>

namespace fastnet {

namespace {
std::vector<OptimizerEntry>& entries() {
  static std::vector<OptimizerEntry> v;  // built during static initialisation, read-only after
  return v;
}
}  // namespace

const std::vector<OptimizerEntry>& optimizer_entries() { return entries(); }

OptimizerRegistrar::OptimizerRegistrar(ComponentInfo info, OptimizerMaker make) {
  entries().push_back({std::move(info), make});
}

ParamSpec lr_param(double dflt) {
  return float_param("lr", dflt, "Learning rate.").at_least(0.0).group();
}

ParamSpec weight_decay_param(double dflt) {
  return float_param("weight_decay", dflt, "Weight decay factor.").at_least(0.0).group();
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const Settings& hparams,
                                          OptimizerArgs args) {
  const OptimizerEntry* e = find_entry(optimizer_entries(), kind);
  if (!e)
    throw std::invalid_argument("unknown optimizer '" + kind +
                                "'; expected one of: " + entry_names(optimizer_entries()));
  // The update rule's own hyper-parameters: lr and weight_decay live on the slots.
  ComponentInfo rule = e->info;
  rule.params.clear();
  for (const auto& p : e->info.params)
    if (!p.per_group) rule.params.push_back(p);
  const Settings hp = check_settings(e->info.name, {&rule}, hparams);
  return e->make(hp, std::move(args));
}

}  // namespace fastnet

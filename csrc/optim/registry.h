// The optimizer registry: every update rule registers itself (a static OptimizerRegistrar in
// its own file) with its ComponentInfo — hyper-parameters in torch.optim's signature order,
// with types, defaults and ranges; lr and weight_decay are marked per_group (each parameter
// slot holds its own); the capability "class" names the public Python class. make_optimizer
// checks the named hyper-parameters against the entry.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/spec.h"
#include "optim/optimizer.h"

namespace fastnet {

// What every optimizer is built over, whatever its rule.
struct OptimizerArgs {
  std::shared_ptr<Model> model;
  std::vector<ParamSlot> slots;
  ClipMode clip_mode = ClipMode::None;
  float clip_value = 0.0f;
};

// Builds the optimizer from checked hyper-parameters (defaults filled in, per-group ones left
// out) and the common arguments.
using OptimizerMaker = std::unique_ptr<Optimizer> (*)(const Settings& hp, OptimizerArgs&& args);

struct OptimizerEntry {
  ComponentInfo info;
  OptimizerMaker make;
};

const std::vector<OptimizerEntry>& optimizer_entries();

struct OptimizerRegistrar {
  OptimizerRegistrar(ComponentInfo info, OptimizerMaker make);
};

// The lr and weight_decay specs every entry starts with (torch.optim's defaults differ per rule).
ParamSpec lr_param(double dflt);
ParamSpec weight_decay_param(double dflt);

// Checks `hparams` (by name) against the entry of `kind` — unknown or per-group keys, wrong
// types and out-of-range values are refused with the key's name — then builds the optimizer.
std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const Settings& hparams,
                                          OptimizerArgs args);

}  // namespace fastnet

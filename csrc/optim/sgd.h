// SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD).
#pragma once
#include "optim/optimizer.h"
#include "optim/registry.h"

namespace fastnet {

class SGD : public Optimizer {
 public:
  SGD(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip,
      float momentum_, float dampening_, bool nesterov_)
      : Optimizer(std::move(m), std::move(s), mode, clip, momentum_ != 0.0f ? 1 : 0),
        momentum(momentum_),
        dampening(dampening_),
        nesterov(nesterov_) {}
  float momentum, dampening;
  bool nesterov;
  // Built with momentum 0, SGD has no momentum buffer: its momentum stays 0.
  float* scheduled_hparam(const std::string& name) override {
    return name == "momentum" && !state.empty() ? &momentum : nullptr;
  }

 protected:
  FASTNET_UPDATE_SEGMENT_OVERRIDES
};

// SGD from registry settings (momentum, dampening, nesterov); shared with normalized_sgd.
std::unique_ptr<SGD> make_sgd(const Settings& h, OptimizerArgs&& a);

}  // namespace fastnet

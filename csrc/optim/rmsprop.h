// RMSprop (Hinton, Lecture 6e; centered variant Graves 2013) as torch.optim.RMSprop.
#pragma once
#include "optim/optimizer.h"

namespace fastnet {

class RMSprop : public Optimizer {
 public:
  // State arenas: square_avg, then grad_avg (centered), then the momentum buffer (momentum > 0).
  RMSprop(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip,
          float alpha_, float eps_, float momentum_, bool centered_)
      : Optimizer(std::move(m), std::move(s), mode, clip,
                  1 + (centered_ ? 1 : 0) + (momentum_ > 0.0f ? 1 : 0)),
        alpha(alpha_),
        eps(eps_),
        momentum(momentum_),
        centered(centered_) {}
  float alpha, eps, momentum;
  bool centered;
  // Built with momentum 0, RMSprop has no momentum buffer: its momentum stays 0.
  float* scheduled_hparam(const std::string& name) override {
    return name == "momentum" && state.size() == (centered ? 3u : 2u) ? &momentum : nullptr;
  }

 protected:
  FASTNET_UPDATE_SEGMENT_OVERRIDES

 private:
  float* grad_avg(const ParamSlot& s) { return centered ? state[1].data() + s.offset : nullptr; }
  float* momentum_buf(const ParamSlot& s) {
    return momentum > 0.0f ? state[centered ? 2 : 1].data() + s.offset : nullptr;
  }
};

}  // namespace fastnet

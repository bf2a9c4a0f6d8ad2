// Nadam (Dozat 2016) with torch's momentum-decay schedule, as torch.optim.NAdam.
#pragma once
#include "optim/optimizer.h"

namespace fastnet {

class Nadam : public Optimizer {
 public:
  // State arenas: exp_avg, exp_avg_sq; one scalar per slot, its μ-product (starts at 1).
  Nadam(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip, float beta1_,
        float beta2_, float eps_, float momentum_decay_)
      : Optimizer(std::move(m), std::move(s), mode, clip, 2, 1, 1.0),
        beta1(beta1_),
        beta2(beta2_),
        eps(eps_),
        momentum_decay(momentum_decay_) {}
  float beta1, beta2, eps, momentum_decay;
  float* scheduled_hparam(const std::string& name) override {
    return name == "beta1" ? &beta1 : name == "beta2" ? &beta2 : nullptr;
  }

 protected:
  FASTNET_UPDATE_SEGMENT_OVERRIDES
};

}  // namespace fastnet

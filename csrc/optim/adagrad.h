// Adagrad (Duchi et al. 2011) as torch.optim.Adagrad.
#pragma once
#include "optim/optimizer.h"

namespace fastnet {

class Adagrad : public Optimizer {
 public:
  Adagrad(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip,
          float lr_decay_, float initial_accumulator_value, float eps_)
      : Optimizer(std::move(m), std::move(s), mode, clip, 1), lr_decay(lr_decay_), eps(eps_) {
    float* sum = state[0].data();
    for (size_t i = 0; i < state[0].size(); ++i) sum[i] = initial_accumulator_value;
  }
  float lr_decay, eps;

 protected:
  FASTNET_UPDATE_SEGMENT_OVERRIDES
};

}  // namespace fastnet

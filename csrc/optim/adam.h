// Adam (L2 decay added to the gradient) and AdamW (decoupled decay), as torch.optim.Adam/AdamW.
#pragma once
#include "optim/optimizer.h"

namespace fastnet {

class Adam : public Optimizer {
 public:
  // decoupled = true is AdamW: p ← p·(1 − lr·wd) before the Adam step.
  Adam(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip, float beta1_,
       float beta2_, float eps_, bool amsgrad_, bool decoupled_)
      : Optimizer(std::move(m), std::move(s), mode, clip, amsgrad_ ? 3 : 2),
        beta1(beta1_),
        beta2(beta2_),
        eps(eps_),
        amsgrad(amsgrad_),
        decoupled(decoupled_) {}
  float beta1, beta2, eps;
  bool amsgrad, decoupled;
  float* scheduled_hparam(const std::string& name) override {
    return name == "beta1" ? &beta1 : name == "beta2" ? &beta2 : nullptr;
  }

 protected:
  FASTNET_UPDATE_SEGMENT_OVERRIDES
};

}  // namespace fastnet

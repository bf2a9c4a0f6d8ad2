// Adadelta (Zeiler 2012) as torch.optim.Adadelta.
#pragma once
#include "optim/optimizer.h"

namespace fastnet {

class Adadelta : public Optimizer {
 public:
  // State arenas: square_avg (E[g²]) and acc_delta (E[Δx²]).
  Adadelta(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip,
           float rho_, float eps_)
      : Optimizer(std::move(m), std::move(s), mode, clip, 2), rho(rho_), eps(eps_) {}
  float rho, eps;

 protected:
  FASTNET_UPDATE_SEGMENT_OVERRIDES
};

}  // namespace fastnet

// Adadelta (Zeiler 2012) as torch.optim.Adadelta.
#pragma once
#include "optimizer.h"

namespace fastnet {

class Adadelta : public Optimizer {
 public:
  // State arenas: square_avg (E[g²]) and acc_delta (E[Δx²]).
  Adadelta(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float clip,
           float rho_, float eps_)
      : Optimizer(std::move(m), std::move(s), mode, clip, 2), rho(rho_), eps(eps_) {}
  float rho, eps;

 protected:
  void update_segment(size_t k, const ParamSlot& s, float* p, const float* g, float gscale,
                      float clip, int64_t t) override;
  void update_segment_reference(size_t k, const ParamSlot& s, float* p, const float* g,
                                float gscale, float clip, int64_t t) override;
};

}  // namespace fastnet

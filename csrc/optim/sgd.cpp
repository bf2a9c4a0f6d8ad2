// SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as torch.optim.SGD:
//   g ← g + wd·p;  b ← g (first step) or μ·b + (1−τ)·g;  g ← g + μ·b (Nesterov) or b;  p ← p − lr·g
#include "sgd.h"

namespace fastnet {

void SGD::update_segment(const ParamSlot& s, float* p, const float* g, float gscale, float clip,
                         int64_t t) {
  const int64_t n = static_cast<int64_t>(s.size);
  const float lr = s.lr, wd = s.weight_decay;
  if (momentum == 0.0f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) {
      float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
      p[i] -= lr * gi;
    }
    return;
  }
  float* buf = state[0].data() + s.offset;
  const bool first = t == 1;
  const float mu = momentum, damp = 1.0f - dampening;
#pragma omp parallel for simd schedule(static) if (n >= kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) {
    float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
    float b = first ? gi : mu * buf[i] + damp * gi;
    buf[i] = b;
    p[i] -= lr * (nesterov ? gi + mu * b : b);
  }
}

}  // namespace fastnet

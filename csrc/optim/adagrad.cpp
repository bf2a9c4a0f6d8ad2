// Adagrad as torch.optim.Adagrad (_single_tensor_adagrad):
//   g ← g + wd·p;  clr = lr / (1 + (t − 1)·lr_decay);  s ← s + g²;  p ← p − clr · g / (√s + ε)
#include "adagrad.h"

#include <cmath>

namespace fastnet {

void Adagrad::update_segment(size_t, const ParamSlot& s, float* p, const float* g, float gscale,
                             float clip, int64_t t) {
  const int64_t n = static_cast<int64_t>(s.size);
  const float clr = static_cast<float>(s.lr / (1.0 + static_cast<double>(t - 1) * lr_decay));
  const float wd = s.weight_decay, e = eps;
  float* sum = state[0].data() + s.offset;
  parallel_for(
      n, kParallelThreshold,
      [=](int64_t begin, int64_t end, float* __restrict__ p, const float* __restrict__ g,
          float* __restrict__ sum) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) {
          const float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
          const float si = sum[i] + gi * gi;
          sum[i] = si;
          p[i] -= clr * gi / (std::sqrt(si) + e);
        }
      },
      p, g, sum);
}

void Adagrad::update_segment_reference(size_t, const ParamSlot& s, float* p, const float* g,
                                       float gscale, float clip, int64_t t) {
  float* state_sum = state[0].data() + s.offset;
  const double step = static_cast<double>(t);
  const float clr = static_cast<float>(s.lr / (1.0 + (step - 1.0) * lr_decay));
  for (size_t i = 0; i < s.size; ++i) {
    float grad = effective_grad(g[i], gscale, clip);
    if (s.weight_decay != 0.0f) grad = grad + s.weight_decay * p[i];
    state_sum[i] = state_sum[i] + grad * grad;
    const float std_ = std::sqrt(state_sum[i]) + eps;
    p[i] = p[i] - clr * (grad / std_);
  }
}

}  // namespace fastnet

// RMSprop as torch.optim.RMSprop (_single_tensor_rmsprop):
//   g ← g + wd·p;  s ← α·s + (1 − α)·g²
//   centered: ḡ ← lerp(ḡ, g, 1 − α), avg = √(s − ḡ²) + ε;  else avg = √s + ε
//   momentum: b ← μ·b + g/avg, p ← p − lr·b;  else p ← p − lr·g/avg
#include "optim/rmsprop.h"

#include <cmath>

#include "core/parallel.h"
#include "optim/registry.h"

namespace fastnet {

namespace {
template <bool kCentered, bool kMomentum>
void rmsprop_kernel(int64_t n, float* p, const float* g, float* sq, float* gavg, float* buf,
                    float gscale, float clip, float lr, float wd, float alpha, float eps,
                    float mu) {
  const float oma = 1.0f - alpha;
  parallel_for(
      n, kParallelThreshold,
      [=](int64_t begin, int64_t end, float* __restrict__ p, const float* __restrict__ g,
          float* __restrict__ sq, float* __restrict__ gavg, float* __restrict__ buf) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) {
          const float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
          const float si = alpha * sq[i] + oma * gi * gi;
          sq[i] = si;
          float avg;
          if (kCentered) {
            const float ga = lerp_torch(gavg[i], gi, oma);
            gavg[i] = ga;
            avg = std::sqrt(si - ga * ga) + eps;
          } else {
            avg = std::sqrt(si) + eps;
          }
          if (kMomentum) {
            const float b = mu * buf[i] + gi / avg;
            buf[i] = b;
            p[i] -= lr * b;
          } else {
            p[i] -= lr * gi / avg;
          }
        }
      },
      p, g, sq, gavg, buf);
}
}  // namespace

void RMSprop::update_segment(size_t, const ParamSlot& s, float* p, const float* g, float gscale,
                             float clip, int64_t) {
  const int64_t n = static_cast<int64_t>(s.size);
  float* sq = state[0].data() + s.offset;
  float* ga = grad_avg(s);
  float* buf = momentum_buf(s);
  const float lr = s.lr, wd = s.weight_decay;
  if (centered && buf)
    rmsprop_kernel<true, true>(n, p, g, sq, ga, buf, gscale, clip, lr, wd, alpha, eps, momentum);
  else if (centered)
    rmsprop_kernel<true, false>(n, p, g, sq, ga, buf, gscale, clip, lr, wd, alpha, eps, momentum);
  else if (buf)
    rmsprop_kernel<false, true>(n, p, g, sq, ga, buf, gscale, clip, lr, wd, alpha, eps, momentum);
  else
    rmsprop_kernel<false, false>(n, p, g, sq, ga, buf, gscale, clip, lr, wd, alpha, eps, momentum);
}

void RMSprop::update_segment_reference(size_t, const ParamSlot& s, float* p, const float* g,
                                       float gscale, float clip, int64_t) {
  float* square_avg = state[0].data() + s.offset;
  float* gavg = grad_avg(s);
  float* buf = momentum_buf(s);
  for (size_t i = 0; i < s.size; ++i) {
    float grad = effective_grad(g[i], gscale, clip);
    if (s.weight_decay != 0.0f) grad = grad + s.weight_decay * p[i];
    square_avg[i] = square_avg[i] * alpha + (1.0f - alpha) * grad * grad;
    float avg;
    if (centered) {
      gavg[i] = lerp_torch(gavg[i], grad, 1.0f - alpha);
      avg = std::sqrt(square_avg[i] - gavg[i] * gavg[i]);
    } else {
      avg = std::sqrt(square_avg[i]);
    }
    avg = avg + eps;
    if (momentum > 0.0f) {
      buf[i] = buf[i] * momentum + grad / avg;
      p[i] = p[i] - s.lr * buf[i];
    } else {
      p[i] = p[i] - s.lr * (grad / avg);
    }
  }
}

namespace {

ComponentInfo info() {
  ComponentInfo i;
  i.name = "rmsprop";
  i.caps = {{"class", std::string("RMSprop")}};
  i.doc =
      "RMSprop (Hinton, lecture 6e; centered form from Graves 2013) as torch.optim.RMSprop: "
      "s = alpha s + (1 - alpha) g^2, optional centering and momentum on g / (sqrt(s) + eps).";
  i.params = {lr_param(1e-2),
              float_param("alpha", 0.99, "Decay of the squared-gradient average.")
                  .at_least(0.0)
                  .at_most(1.0),
              float_param("eps", 1e-8, "Added to the denominator.").above(0.0),
              weight_decay_param(0.0),
              float_param("momentum", 0.0, "Momentum factor.").at_least(0.0),
              bool_param("centered", false, "Divide by the variance estimate s - mean(g)^2.")};
  return i;
}

const OptimizerRegistrar registrar(
    info(), [](const Settings& h, OptimizerArgs&& a) -> std::unique_ptr<Optimizer> {
      return std::make_unique<RMSprop>(
          std::move(a.model), std::move(a.slots), a.clip_mode, a.clip_value,
          static_cast<float>(h.number("alpha")), static_cast<float>(h.number("eps")),
          static_cast<float>(h.number("momentum")), h.number("centered") != 0.0);
    });

}  // namespace

}  // namespace fastnet

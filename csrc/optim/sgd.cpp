// SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as torch.optim.SGD:
//   g ← g + wd·p;  b ← g (first step) or μ·b + (1−τ)·g;  g ← g + μ·b (Nesterov) or b;  p ← p − lr·g
#include "optim/sgd.h"

#include <stdexcept>

#include "core/parallel.h"
#include "optim/registry.h"

namespace fastnet {

namespace {
template <bool kNesterov>
void sgd_momentum_kernel(int64_t n, float* p, const float* g, float* buf, float gscale, float clip,
                         float lr, float wd, float mu, float damp, bool first) {
  parallel_for(
      n, kParallelThreshold,
      [=](int64_t begin, int64_t end, float* __restrict__ p, const float* __restrict__ g,
          float* __restrict__ buf) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) {
          const float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
          const float b = first ? gi : mu * buf[i] + damp * gi;
          buf[i] = b;
          p[i] -= lr * (kNesterov ? gi + mu * b : b);
        }
      },
      p, g, buf);
}
}  // namespace

void SGD::update_segment(size_t, const ParamSlot& s, float* p, const float* g, float gscale,
                         float clip, int64_t t) {
  const int64_t n = static_cast<int64_t>(s.size);
  const float lr = s.lr, wd = s.weight_decay;
  if (momentum == 0.0f) {
    parallel_for(
        n, kParallelThreshold,
        [=](int64_t begin, int64_t end, float* __restrict__ p, const float* __restrict__ g) {
#pragma omp simd
          for (int64_t i = begin; i < end; ++i) {
            const float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
            p[i] -= lr * gi;
          }
        },
        p, g);
    return;
  }
  float* buf = state[0].data() + s.offset;
  const bool first = t == 1;
  if (nesterov)
    sgd_momentum_kernel<true>(n, p, g, buf, gscale, clip, lr, wd, momentum, 1.0f - dampening,
                              first);
  else
    sgd_momentum_kernel<false>(n, p, g, buf, gscale, clip, lr, wd, momentum, 1.0f - dampening,
                               first);
}

void SGD::update_segment_reference(size_t, const ParamSlot& s, float* p, const float* g,
                                   float gscale, float clip, int64_t t) {
  float* buf = momentum != 0.0f ? state[0].data() + s.offset : nullptr;
  for (size_t i = 0; i < s.size; ++i) {
    float grad = effective_grad(g[i], gscale, clip);
    if (s.weight_decay != 0.0f) grad = grad + s.weight_decay * p[i];
    if (momentum != 0.0f) {
      if (t == 1)
        buf[i] = grad;
      else
        buf[i] = buf[i] * momentum + (1.0f - dampening) * grad;
      grad = nesterov ? grad + momentum * buf[i] : buf[i];
    }
    p[i] = p[i] - s.lr * grad;
  }
}

namespace {

ComponentInfo info() {
  ComponentInfo i;
  i.name = "sgd";
  i.caps = {{"class", std::string("SGD")}};
  i.doc =
      "Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight "
      "decay, as torch.optim.SGD (Nesterov: Sutskever et al. 2013).";
  i.params = {
      lr_param(1e-3), float_param("momentum", 0.0, "Momentum factor.").at_least(0.0),
      float_param("dampening", 0.0, "Dampening of the momentum.").at_least(0.0).at_most(1.0),
      bool_param("nesterov", false, "Nesterov momentum (needs momentum > 0, dampening 0)."),
      weight_decay_param(0.0)};
  return i;
}

const OptimizerRegistrar registrar(info(),
                                   [](const Settings& h,
                                      OptimizerArgs&& a) -> std::unique_ptr<Optimizer> {
                                     return make_sgd(h, std::move(a));
                                   });

}  // namespace

std::unique_ptr<SGD> make_sgd(const Settings& h, OptimizerArgs&& a) {
  if (h.number("nesterov") != 0.0 && (h.number("momentum") <= 0.0 || h.number("dampening") != 0.0))
    throw std::invalid_argument("Nesterov momentum requires momentum > 0 and dampening = 0");
  return std::make_unique<SGD>(std::move(a.model), std::move(a.slots), a.clip_mode, a.clip_value,
                               static_cast<float>(h.number("momentum")),
                               static_cast<float>(h.number("dampening")),
                               h.number("nesterov") != 0.0);
}

}  // namespace fastnet

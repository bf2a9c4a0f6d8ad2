// Adagrad as torch.optim.Adagrad (_single_tensor_adagrad):
//   g ← g + wd·p;  clr = lr / (1 + (t − 1)·lr_decay);  s ← s + g²;  p ← p − clr · g / (√s + ε)
#include "optim/adagrad.h"

#include <cmath>

#include "core/parallel.h"
#include "optim/registry.h"

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

namespace {

ComponentInfo info() {
  ComponentInfo i;
  i.name = "adagrad";
  i.caps = {{"class", std::string("Adagrad")}};
  i.doc =
      "Adagrad (Duchi, Hazan & Singer 2011) as torch.optim.Adagrad: s += g^2, "
      "p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps).";
  i.params = {lr_param(1e-2),
              float_param("lr_decay", 0.0, "Learning-rate decay per step.").at_least(0.0),
              weight_decay_param(0.0),
              float_param("initial_accumulator_value", 0.0, "Starting value of s.").at_least(0.0),
              float_param("eps", 1e-10, "Added to the denominator.").above(0.0)};
  return i;
}

const OptimizerRegistrar registrar(
    info(), [](const Settings& h, OptimizerArgs&& a) -> std::unique_ptr<Optimizer> {
      return std::make_unique<Adagrad>(std::move(a.model), std::move(a.slots), a.clip_mode,
                                       a.clip_value, static_cast<float>(h.number("lr_decay")),
                                       static_cast<float>(h.number("initial_accumulator_value")),
                                       static_cast<float>(h.number("eps")));
    });

}  // namespace

}  // namespace fastnet

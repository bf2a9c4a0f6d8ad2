// Adadelta as torch.optim.Adadelta (_single_tensor_adadelta):
//   g ← g + wd·p;  s ← ρ·s + (1 − ρ)·g²;  Δ = √(a + ε) / √(s + ε) · g
//   a ← ρ·a + (1 − ρ)·Δ²;  p ← p − lr·Δ
#include "optim/adadelta.h"

#include <cmath>

#include "core/parallel.h"
#include "optim/registry.h"

namespace fastnet {

void Adadelta::update_segment(size_t, const ParamSlot& s, float* p, const float* g, float gscale,
                              float clip, int64_t) {
  const int64_t n = static_cast<int64_t>(s.size);
  float* sq = state[0].data() + s.offset;
  float* acc = state[1].data() + s.offset;
  const float lr = s.lr, wd = s.weight_decay, r = rho, omr = 1.0f - rho, e = eps;
  parallel_for(
      n, kParallelThreshold,
      [=](int64_t begin, int64_t end, float* __restrict__ p, const float* __restrict__ g,
          float* __restrict__ sq, float* __restrict__ acc) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) {
          const float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
          const float si = r * sq[i] + omr * gi * gi;
          sq[i] = si;
          const float delta = std::sqrt(acc[i] + e) / std::sqrt(si + e) * gi;
          acc[i] = r * acc[i] + omr * delta * delta;
          p[i] -= lr * delta;
        }
      },
      p, g, sq, acc);
}

void Adadelta::update_segment_reference(size_t, const ParamSlot& s, float* p, const float* g,
                                        float gscale, float clip, int64_t) {
  float* square_avg = state[0].data() + s.offset;
  float* acc_delta = state[1].data() + s.offset;
  for (size_t i = 0; i < s.size; ++i) {
    float grad = effective_grad(g[i], gscale, clip);
    if (s.weight_decay != 0.0f) grad = grad + s.weight_decay * p[i];
    square_avg[i] = square_avg[i] * rho + (1.0f - rho) * grad * grad;
    const float std_ = std::sqrt(square_avg[i] + eps);
    float delta = std::sqrt(acc_delta[i] + eps);
    delta = delta / std_ * grad;
    acc_delta[i] = acc_delta[i] * rho + (1.0f - rho) * delta * delta;
    p[i] = p[i] - s.lr * delta;
  }
}

namespace {

ComponentInfo info() {
  ComponentInfo i;
  i.name = "adadelta";
  i.caps = {{"class", std::string("Adadelta")}};
  i.doc =
      "Adadelta (Zeiler 2012) as torch.optim.Adadelta: delta = sqrt(E[dx^2] + eps) / "
      "sqrt(E[g^2] + eps) * g, p -= lr * delta, both averages decaying with rho.";
  i.params = {lr_param(1.0),
              float_param("rho", 0.9, "Decay of the running averages.").at_least(0.0).at_most(1.0),
              float_param("eps", 1e-6, "Added inside both square roots.").above(0.0),
              weight_decay_param(0.0)};
  return i;
}

const OptimizerRegistrar registrar(
    info(), [](const Settings& h, OptimizerArgs&& a) -> std::unique_ptr<Optimizer> {
      return std::make_unique<Adadelta>(std::move(a.model), std::move(a.slots), a.clip_mode,
                                        a.clip_value, static_cast<float>(h.number("rho")),
                                        static_cast<float>(h.number("eps")));
    });

}  // namespace

}  // namespace fastnet

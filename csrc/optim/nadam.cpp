// Nadam as torch.optim.NAdam (_single_tensor_nadam):
//   g ← g + wd·p;  μ_t = β1·(1 − ½·0.96^(t·ψ));  μ_{t+1} likewise;  Π ← Π·μ_t
//   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²;  d = √(v / (1 − β2^t)) + ε
//   p ← p − lr·(1 − μ_t)/(1 − Π) · g/d − lr·μ_{t+1}/(1 − Π·μ_{t+1}) · m/d
#include "optim/nadam.h"

#include <cmath>

#include "core/parallel.h"
#include "optim/registry.h"

namespace fastnet {

namespace {
struct NadamScalars {
  float coef_grad, coef_avg, inv_bc2;  // −lr(1−μ_t)/(1−Π), −lr·μ_{t+1}/(1−Π·μ_{t+1}), 1/(1−β2^t)
};

// Advances slot k's μ-product and returns the step's scalars (once per slot and step).
NadamScalars nadam_scalars(double& mu_product, double lr, double beta1, double beta2,
                           double momentum_decay, int64_t t) {
  const double step = static_cast<double>(t);
  const double bias_correction2 = 1.0 - std::pow(beta2, step);
  const double mu = beta1 * (1.0 - 0.5 * std::pow(0.96, step * momentum_decay));
  const double mu_next = beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1.0) * momentum_decay));
  mu_product *= mu;
  const double mu_product_next = mu_product * mu_next;
  NadamScalars c;
  c.coef_grad = static_cast<float>(-lr * (1.0 - mu) / (1.0 - mu_product));
  c.coef_avg = static_cast<float>(-lr * mu_next / (1.0 - mu_product_next));
  c.inv_bc2 = static_cast<float>(1.0 / bias_correction2);
  return c;
}
}  // namespace

void Nadam::update_segment(size_t k, const ParamSlot& s, float* p, const float* g, float gscale,
                           float clip, int64_t t) {
  const int64_t n = static_cast<int64_t>(s.size);
  const NadamScalars c = nadam_scalars(*slot_scalars(k), s.lr, beta1, beta2, momentum_decay, t);
  float* m = state[0].data() + s.offset;
  float* v = state[1].data() + s.offset;
  const float wd = s.weight_decay, b1w = 1.0f - beta1, b2 = beta2, omb2 = 1.0f - beta2, e = eps;
  parallel_for(
      n, kParallelThreshold,
      [=](int64_t begin, int64_t end, float* __restrict__ p, const float* __restrict__ g,
          float* __restrict__ m, float* __restrict__ v) {
#pragma omp simd
        for (int64_t i = begin; i < end; ++i) {
          const float gi = effective_grad(g[i], gscale, clip) + wd * p[i];
          const float mi = lerp_torch(m[i], gi, b1w);
          const float vi = b2 * v[i] + omb2 * gi * gi;
          m[i] = mi;
          v[i] = vi;
          const float denom = std::sqrt(vi * c.inv_bc2) + e;
          p[i] += (c.coef_grad * gi + c.coef_avg * mi) / denom;
        }
      },
      p, g, m, v);
}

void Nadam::update_segment_reference(size_t k, const ParamSlot& s, float* p, const float* g,
                                     float gscale, float clip, int64_t t) {
  const double step = static_cast<double>(t);
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), step);
  const double mu = beta1 * (1.0 - 0.5 * std::pow(0.96, step * momentum_decay));
  const double mu_next = beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1.0) * momentum_decay));
  double& mu_product = *slot_scalars(k);
  mu_product *= mu;
  const double mu_product_next = mu_product * mu_next;
  const float value_grad = static_cast<float>(-s.lr * (1.0 - mu) / (1.0 - mu_product));
  const float value_avg = static_cast<float>(-s.lr * mu_next / (1.0 - mu_product_next));
  float* exp_avg = state[0].data() + s.offset;
  float* exp_avg_sq = state[1].data() + s.offset;
  for (size_t i = 0; i < s.size; ++i) {
    float grad = effective_grad(g[i], gscale, clip);
    if (s.weight_decay != 0.0f) grad = grad + s.weight_decay * p[i];
    exp_avg[i] = lerp_torch(exp_avg[i], grad, 1.0f - beta1);
    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + (1.0f - beta2) * grad * grad;
    const float denom = std::sqrt(exp_avg_sq[i] / static_cast<float>(bias_correction2)) + eps;
    p[i] = p[i] + value_grad * (grad / denom);
    p[i] = p[i] + value_avg * (exp_avg[i] / denom);
  }
}

namespace {

ComponentInfo info() {
  ComponentInfo i;
  i.name = "nadam";
  i.caps = {{"class", std::string("Nadam")}};
  i.doc =
      "Nadam (Dozat 2016) as torch.optim.NAdam: Adam with Nesterov momentum and the "
      "momentum-decay schedule mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)).";
  i.params = {lr_param(2e-3),
              float_param("beta1", 0.9, "Decay of the gradient average.").at_least(0.0).below(1.0),
              float_param("beta2", 0.999, "Decay of the squared-gradient average.")
                  .at_least(0.0)
                  .below(1.0),
              float_param("eps", 1e-8, "Added to the denominator.").above(0.0),
              weight_decay_param(0.0),
              float_param("momentum_decay", 4e-3, "psi of the momentum schedule.").at_least(0.0)};
  return i;
}

const OptimizerRegistrar registrar(
    info(), [](const Settings& h, OptimizerArgs&& a) -> std::unique_ptr<Optimizer> {
      return std::make_unique<Nadam>(
          std::move(a.model), std::move(a.slots), a.clip_mode, a.clip_value,
          static_cast<float>(h.number("beta1")), static_cast<float>(h.number("beta2")),
          static_cast<float>(h.number("eps")), static_cast<float>(h.number("momentum_decay")));
    });

}  // namespace

}  // namespace fastnet

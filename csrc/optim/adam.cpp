// Adam / AdamW as torch.optim.Adam (_single_tensor_adam), Kingma & Ba 2015, Loshchilov &
// Hutter 2019 for the decoupled decay:
//   g ← g + wd·p (Adam) | p ← p·(1 − lr·wd) (AdamW)
//   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²;  v̂max ← max(v̂max, v) (amsgrad)
//   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
#include "optim/adam.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "optim/registry.h"

namespace fastnet {

namespace {
// Per-segment scalars: the bias corrections are computed once per step, never per element.
struct AdamScalars {
  float b1w, b2, omb2, eps, l2, decay, step_size, inv_bc2_sqrt;
};

// kDecay: weight decay on (L2 or decoupled); kClip: clip-by-value on. The common case (neither)
// drops three operations a parameter from a loop bound by vector throughput in L2.
template <bool kAmsgrad, bool kDecay, bool kClip>
void adam_kernel(int64_t n, float* p_, const float* g_, float* m_, float* v_, float* vmax_,
                 float gscale, float clip, const AdamScalars c) {
  parallel_for(n, kParallelThreshold, [=](int64_t begin, int64_t end) {
    // restrict-qualified locals and scalar copies: nothing in the loop can alias, so it
    // vectorizes (AVX-512: 16 parameters per iteration).
    float* __restrict__ p = p_;
    const float* __restrict__ g = g_;
    float* __restrict__ m = m_;
    float* __restrict__ v = v_;
    float* __restrict__ vmax = vmax_;
    const AdamScalars k = c;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      float gi = kClip ? effective_grad(g[i], gscale, clip) : g[i] * gscale;
      if (kDecay) gi += k.l2 * p[i];
      const float mi = lerp_torch(m[i], gi, k.b1w);
      float vi = k.b2 * v[i] + k.omb2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      if (kAmsgrad) {
        vi = vmax[i] > vi ? vmax[i] : vi;
        vmax[i] = vi;
      }
      const float pi = kDecay ? p[i] * k.decay : p[i];
      p[i] = pi - k.step_size * mi / (std::sqrt(vi) * k.inv_bc2_sqrt + k.eps);
    }
  });
}
}  // namespace

void Adam::update_segment(size_t, const ParamSlot& s, float* p, const float* g, float gscale,
                          float clip, int64_t t) {
  const int64_t n = static_cast<int64_t>(s.size);
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  AdamScalars c;
  c.b1w = 1.0f - beta1;
  c.b2 = beta2;
  c.omb2 = 1.0f - beta2;
  c.eps = eps;
  c.l2 = decoupled ? 0.0f : s.weight_decay;
  c.decay = decoupled ? 1.0f - s.lr * s.weight_decay : 1.0f;
  c.step_size = static_cast<float>(s.lr / bc1);
  c.inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
  float* m = state[0].data() + s.offset;
  float* v = state[1].data() + s.offset;
  float* vmax = amsgrad ? state[2].data() + s.offset : nullptr;
  const bool decay = s.weight_decay != 0.0f, by_value = clip > 0.0f;
  if (amsgrad)
    adam_kernel<true, true, true>(n, p, g, m, v, vmax, gscale, clip, c);
  else if (decay || by_value)
    adam_kernel<false, true, true>(n, p, g, m, v, vmax, gscale, clip, c);
  else
    adam_kernel<false, false, false>(n, p, g, m, v, vmax, gscale, clip, c);
}

void Adam::update_segment_reference(size_t, const ParamSlot& s, float* p, const float* g,
                                    float gscale, float clip, int64_t t) {
  float* exp_avg = state[0].data() + s.offset;
  float* exp_avg_sq = state[1].data() + s.offset;
  float* max_exp_avg_sq = amsgrad ? state[2].data() + s.offset : nullptr;
  const double bias_correction1 =
      1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bias_correction2 =
      1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  const float step_size = static_cast<float>(s.lr / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  for (size_t i = 0; i < s.size; ++i) {
    float grad = effective_grad(g[i], gscale, clip);
    if (s.weight_decay != 0.0f) {
      if (decoupled)
        p[i] = p[i] * (1.0f - s.lr * s.weight_decay);
      else
        grad = grad + s.weight_decay * p[i];
    }
    exp_avg[i] = lerp_torch(exp_avg[i], grad, 1.0f - beta1);
    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + (1.0f - beta2) * grad * grad;
    float denom;
    if (amsgrad) {
      max_exp_avg_sq[i] = std::max(max_exp_avg_sq[i], exp_avg_sq[i]);
      denom = std::sqrt(max_exp_avg_sq[i]) / bias_correction2_sqrt + eps;
    } else {
      denom = std::sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + eps;
    }
    p[i] = p[i] - step_size * (exp_avg[i] / denom);
  }
}

namespace {

ComponentInfo info(std::string name, std::string cls, std::string doc, double weight_decay) {
  ComponentInfo i;
  i.name = std::move(name);
  i.caps = {{"class", std::move(cls)}};
  i.doc = std::move(doc);
  i.params = {lr_param(1e-3),
              float_param("beta1", 0.9, "Decay of the gradient average.").at_least(0.0).below(1.0),
              float_param("beta2", 0.99, "Decay of the squared-gradient average (torch: 0.999).")
                  .at_least(0.0)
                  .below(1.0),
              float_param("eps", 1e-8, "Added to the denominator.").above(0.0),
              weight_decay_param(weight_decay),
              bool_param("amsgrad", false,
                         "AMSGrad (Reddi et al. 2018): the running maximum of "
                         "the squared-gradient average.")};
  return i;
}

template <bool kDecoupled>
std::unique_ptr<Optimizer> make(const Settings& h, OptimizerArgs&& a) {
  return std::make_unique<Adam>(
      std::move(a.model), std::move(a.slots), a.clip_mode, a.clip_value,
      static_cast<float>(h.number("beta1")), static_cast<float>(h.number("beta2")),
      static_cast<float>(h.number("eps")), h.number("amsgrad") != 0.0, kDecoupled);
}

const OptimizerRegistrar adam_registrar(
    info("adam", "Adam",
         "Adam (Kingma & Ba 2015) as torch.optim.Adam; weight decay adds wd * p to the gradient.",
         0.0),
    make<false>);
const OptimizerRegistrar adamw_registrar(
    info("adamw", "AdamW",
         "AdamW (Loshchilov & Hutter 2019) as torch.optim.AdamW: decoupled weight decay, "
         "p <- p (1 - lr wd) before the Adam step.",
         1e-2),
    make<true>);

}  // namespace

}  // namespace fastnet

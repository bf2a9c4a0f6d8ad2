#include "layers/layernorm.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"
#include "layers/registry.h"

namespace fastnet {

void layernorm_forward(const float* X, const float* gamma, const float* beta, float* Y, float* mean,
                       float* rstd, float eps, int64_t batch, int64_t F) {
  for_each_index(batch, batch * F >= kParallelThreshold, [&](int64_t r) {
    const float* x = X + r * F;
    float* y = Y + r * F;
    // The row is hot in L1: mean first, then the centred sum of squares (both in double).
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < F; ++c) s += x[c];
    const double m = s / F;
    double q = 0.0;
#pragma omp simd reduction(+ : q)
    for (int64_t c = 0; c < F; ++c) {
      double d = x[c] - m;
      q += d * d;
    }
    const float mu = static_cast<float>(m);
    const float is = static_cast<float>(1.0 / std::sqrt(q / F + eps));
    mean[r] = mu;
    rstd[r] = is;
    if (gamma) {
#pragma omp simd
      for (int64_t c = 0; c < F; ++c) y[c] = (x[c] - mu) * is * gamma[c] + beta[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < F; ++c) y[c] = (x[c] - mu) * is;
    }
  });
}

void layernorm_backward(const float* X, const float* gamma, const float* mean, const float* rstd,
                        const float* dY, float* dX, float* dgamma, float* dbeta, int64_t batch,
                        int64_t F) {
  const bool parallel = batch * F >= kParallelThreshold;
  const int nthreads = parallel ? max_threads() : 1;
  const bool affine = dgamma != nullptr;
  // Per-thread column partials of dγ and dβ, summed after the row loop.
  std::vector<float> part(affine ? static_cast<size_t>(2 * F * nthreads) : 0, 0.0f);
  for_each_index_on(batch, nthreads, [&](int t, int64_t r) {
    float* pg = affine ? part.data() + static_cast<size_t>(2 * F) * t : nullptr;
    float* pb = affine ? pg + F : nullptr;
    {
      const float* x = X + r * F;
      const float* dy = dY + r * F;
      const float mu = mean[r], is = rstd[r];
      if (affine) {
#pragma omp simd
        for (int64_t c = 0; c < F; ++c) {
          pg[c] += dy[c] * (x[c] - mu) * is;
          pb[c] += dy[c];
        }
      }
      if (!dX) return;
      double s1 = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s1, s2)
      for (int64_t c = 0; c < F; ++c) {
        float g = gamma ? dy[c] * gamma[c] : dy[c];
        s1 += g;
        s2 += g * (x[c] - mu) * is;
      }
      const float m1 = static_cast<float>(s1 / F), m2 = static_cast<float>(s2 / F);
      float* dx = dX + r * F;
#pragma omp simd
      for (int64_t c = 0; c < F; ++c) {
        float g = gamma ? dy[c] * gamma[c] : dy[c];
        dx[c] = is * (g - m1 - (x[c] - mu) * is * m2);
      }
    }
  });
  if (!affine) return;
  for (int64_t c = 0; c < F; ++c) dgamma[c] = dbeta[c] = 0.0f;
  for (int t = 0; t < nthreads; ++t) {
    const float* pg = part.data() + static_cast<size_t>(2 * F) * t;
    for (int64_t c = 0; c < F; ++c) {
      dgamma[c] += pg[c];
      dbeta[c] += pg[F + c];
    }
  }
}

namespace {

// LayerNorm layer: parameters weight γ and bias β (when affine); workspace mean/rstd per row.
class LayerNormLayer : public Layer {
 public:
  explicit LayerNormLayer(const LayerConfig& cfg) {
    in = out = static_cast<int64_t>(cfg.number("features"));
    eps_ = static_cast<float>(cfg.number("eps"));
    affine_ = cfg.number("affine") != 0.0;
    gamma_ = {"weight", {in}};
    beta_ = {"bias", {in}};
  }
  std::vector<ParamDecl*> param_decls() override {
    if (affine_) return {&gamma_, &beta_};
    return {};
  }
  size_t workspace_floats(int64_t batch) const override { return static_cast<size_t>(2 * batch); }
  void forward(const float* X, float* Y, float* ws, int64_t batch,
               const StepContext& ctx) override {
    layernorm_forward(X, affine_ ? ctx.params + gamma_.offset : nullptr,
                      affine_ ? ctx.params + beta_.offset : nullptr, Y, ws, ws + batch, eps_, batch,
                      in);
  }
  void backward(const float* X, const float*, float* dY, float* dX, float* ws, int64_t batch,
                const StepContext& ctx) override {
    layernorm_backward(X, affine_ ? ctx.params + gamma_.offset : nullptr, ws, ws + batch, dY, dX,
                       affine_ ? ctx.grads + gamma_.offset : nullptr,
                       affine_ ? ctx.grads + beta_.offset : nullptr, batch, in);
  }

 private:
  float eps_ = 1e-5f;
  bool affine_ = true;
  ParamDecl gamma_, beta_;
};

ComponentInfo info() {
  ComponentInfo i;
  i.name = "layernorm";
  i.doc =
      "Layer normalization (Ba, Kiros & Hinton 2016) over the features of each row "
      "(torch.nn.LayerNorm).";
  i.params = {required_int("features", "Width of the input and the output.").at_least(1),
              float_param("eps", 1e-5, "Added to the variance.").above(0.0),
              bool_param("affine", true, "Learned weight and bias.")};
  return i;
}

const LayerRegistrar registrar(info(), [](const LayerConfig& cfg) -> std::unique_ptr<Layer> {
  return std::make_unique<LayerNormLayer>(cfg);
});

}  // namespace

}  // namespace fastnet

#include "layers/weightnorm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"
#include "layers/dense.h"
#include "layers/layer.h"

namespace fastnet {

namespace {
// A zero column would divide by zero; torch gives NaN there, we keep the weights finite.
constexpr double kMinNorm = 1e-12;
}  // namespace

void weightnorm_weight(const float* v, const float* g, float* W, float* norm, int64_t in,
                       int64_t out) {
  std::vector<double> sq(out, 0.0);
  for (int64_t i = 0; i < in; ++i) {
    const float* row = v + i * out;
#pragma omp simd
    for (int64_t j = 0; j < out; ++j) sq[j] += static_cast<double>(row[j]) * row[j];
  }
  std::vector<float> scale(out);
  for (int64_t j = 0; j < out; ++j) {
    double n = std::max(std::sqrt(sq[j]), kMinNorm);
    norm[j] = static_cast<float>(n);
    scale[j] = static_cast<float>(g[j] / n);
  }
  for_each_index(in, in * out >= kParallelThreshold, [&](int64_t i) {
    const float* row = v + i * out;
    float* w = W + i * out;
#pragma omp simd
    for (int64_t j = 0; j < out; ++j) w[j] = row[j] * scale[j];
  });
}

void weightnorm_backward(const float* v, const float* g, const float* norm, float* dv, float* dg,
                         int64_t in, int64_t out) {
  std::vector<double> dot(out, 0.0);
  for (int64_t i = 0; i < in; ++i) {
    const float* row = v + i * out;
    const float* d = dv + i * out;
#pragma omp simd
    for (int64_t j = 0; j < out; ++j) dot[j] += static_cast<double>(d[j]) * row[j];
  }
  std::vector<float> a(out), b(out);
  for (int64_t j = 0; j < out; ++j) {
    const double n = norm[j];
    const double gradg = dot[j] / n;
    dg[j] = static_cast<float>(gradg);
    a[j] = static_cast<float>(g[j] / n);
    b[j] = static_cast<float>(-g[j] * gradg / (n * n));
  }
  for_each_index(in, in * out >= kParallelThreshold, [&](int64_t i) {
    const float* row = v + i * out;
    float* d = dv + i * out;
#pragma omp simd
    for (int64_t j = 0; j < out; ++j) d[j] = a[j] * d[j] + b[j] * row[j];
  });
}

namespace {

// Dense with weight normalization: parameters weight_v (in, out), weight_g (out,), bias.
// Workspace: W (in·out), ‖v‖ (out), and the pre-activation (batch·out) when an activation
// is fused. W is recomputed every forward, so it always reflects the current v and g.
class WeightNormDenseLayer : public Layer {
 public:
  explicit WeightNormDenseLayer(const LayerConfig& cfg) {
    in = static_cast<int64_t>(cfg.number("in_features"));
    out = static_cast<int64_t>(cfg.number("out_features"));
    has_bias_ = cfg.number("bias") != 0.0;
    act_ = act_from_name(cfg.string("activation"));
    if (act_ == ActKind::PReLU)
      throw std::invalid_argument("Dense(weight_norm=True) cannot fuse PReLU; add a PReLU layer");
    ap_.alpha = static_cast<float>(cfg.number("alpha"));
    v_ = {"weight_v", {in, out}};
    g_ = {"weight_g", {out}};
    b_ = {"bias", {out}};
  }
  std::vector<ParamDecl*> param_decls() override {
    if (has_bias_) return {&v_, &g_, &b_};
    return {&v_, &g_};
  }
  size_t workspace_floats(int64_t batch) const override {
    size_t w = static_cast<size_t>(padded_floats(in * out) + padded_floats(out));
    return w + (act_ == ActKind::None ? 0 : static_cast<size_t>(batch * out));
  }
  void forward(const float* X, float* Y, float* ws, int64_t batch,
               const StepContext& ctx) override {
    float* W = ws;
    float* norm = norm_ptr(ws);
    weightnorm_weight(ctx.params + v_.offset, ctx.params + g_.offset, W, norm, in, out);
    float* Z = act_ == ActKind::None ? Y : z_ptr(ws);
    dense_forward(X, W, has_bias_ ? ctx.params + b_.offset : nullptr, Z, Y, batch, in, out, act_,
                  bind(ctx), ctx.training);
  }
  void backward(const float* X, const float* Y, float* dY, float* dX, float* ws, int64_t batch,
                const StepContext& ctx) override {
    const float* Z = act_ == ActKind::None ? Y : z_ptr(ws);
    float* dv = ctx.grads + v_.offset;
    // ∇W lands in v's gradient segment, then becomes ∇v in place.
    dense_backward(X, ws, Z, Y, dY, dv, has_bias_ ? ctx.grads + b_.offset : nullptr, dX, nullptr,
                   batch, in, out, act_, bind(ctx), ctx.training);
    weightnorm_backward(ctx.params + v_.offset, ctx.params + g_.offset, norm_ptr(ws), dv,
                        ctx.grads + g_.offset, in, out);
  }

 private:
  float* norm_ptr(float* ws) const { return ws + padded_floats(in * out); }
  float* z_ptr(float* ws) const { return norm_ptr(ws) + padded_floats(out); }
  ActParams bind(const StepContext& ctx) const {
    ActParams ap = ap_;
    ap.rng_key = layer_rng_key(ctx.seed, index, ctx.step);
    return ap;
  }
  bool has_bias_ = true;
  ActKind act_ = ActKind::None;
  ActParams ap_;
  ParamDecl v_, g_, b_;
};

}  // namespace

std::unique_ptr<Layer> make_weightnorm_dense_layer(const LayerConfig& cfg) {
  return std::make_unique<WeightNormDenseLayer>(cfg);
}

}  // namespace fastnet

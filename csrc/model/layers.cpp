// Layer implementations that wrap the kernels in csrc/ and the factory that builds them.
#include <stdexcept>

#include "../dense.h"
#include "../dropout.h"
#include "../norm/batchnorm.h"
#include "../norm/layernorm.h"
#include "../norm/weightnorm.h"
#include "../rng.h"
#include "layer.h"
#include "residual.h"

namespace fastnet {

namespace {

ActParams act_params_from(const LayerConfig& cfg) {
  ActParams p;
  p.alpha = static_cast<float>(cfg.get("alpha", 0.01));
  p.lower = static_cast<float>(cfg.get("lower", 1.0 / 8.0));
  p.upper = static_cast<float>(cfg.get("upper", 1.0 / 3.0));
  return p;
}

// The per-call activation parameters: PReLU's slope in the arena, RReLU's random stream for
// this layer and step.
ActParams bind_act_params(const ActParams& base, ActKind act, const ParamDecl& slope, int index,
                          const StepContext& ctx) {
  ActParams ap = base;
  if (act == ActKind::PReLU) ap.slope = ctx.params + slope.offset;
  ap.rng_key = layer_rng_key(ctx.seed, index, ctx.step);
  return ap;
}

// Dense: Y = act(X·W + b), with an optional fused activation (PReLU adds a slope vector).
class DenseLayer : public Layer {
 public:
  explicit DenseLayer(const LayerConfig& cfg) {
    in = static_cast<int64_t>(cfg.get("in_features", 0));
    out = static_cast<int64_t>(cfg.get("out_features", 0));
    if (in <= 0 || out <= 0) throw std::invalid_argument("Dense: features must be positive");
    has_bias_ = cfg.get("bias", 1.0) != 0.0;
    act_ = act_from_name(cfg.get_str("activation", "none"));
    ap_ = act_params_from(cfg);
    W_ = {"weight", {in, out}};
    b_ = {"bias", {out}};
    slope_ = {"slope", {out}};
  }
  std::vector<ParamDecl*> param_decls() override {
    std::vector<ParamDecl*> v{&W_};
    if (has_bias_) v.push_back(&b_);
    if (act_ == ActKind::PReLU) v.push_back(&slope_);
    return v;
  }
  // Workspace: Z (batch, out) when there is an activation, then Wᵀ when backward uses it.
  size_t workspace_floats(int64_t batch) const override {
    return z_floats(batch) +
           (dense_dx_transposes(batch, in, out) ? static_cast<size_t>(in * out) : 0);
  }
  void forward(const float* X, float* Y, float* ws, int64_t batch,
               const StepContext& ctx) override {
    float* Z = act_ == ActKind::None ? Y : ws;
    ActParams ap = bind(ctx);
    dense_forward(X, ctx.params + W_.offset, has_bias_ ? ctx.params + b_.offset : nullptr, Z, Y,
                  batch, in, out, act_, ap, ctx.training);
  }
  void backward(const float* X, const float* Y, float* dY, float* dX, float* ws, int64_t batch,
                const StepContext& ctx) override {
    const float* Z = act_ == ActKind::None ? Y : ws;
    ActParams ap = bind(ctx);
    dense_backward(X, ctx.params + W_.offset, Z, Y, dY, ctx.grads + W_.offset,
                   has_bias_ ? ctx.grads + b_.offset : nullptr, dX,
                   act_ == ActKind::PReLU ? ctx.grads + slope_.offset : nullptr, batch, in, out,
                   act_, ap, ctx.training,
                   dense_dx_transposes(batch, in, out) ? ws + z_floats(batch) : nullptr);
  }

 private:
  size_t z_floats(int64_t batch) const {
    return act_ == ActKind::None ? 0 : static_cast<size_t>(batch * out);
  }
  ActParams bind(const StepContext& ctx) const {
    return bind_act_params(ap_, act_, slope_, index, ctx);
  }
  bool has_bias_ = true;
  ActKind act_ = ActKind::None;
  ActParams ap_;
  ParamDecl W_, b_, slope_;
};

// A stand-alone activation: Y = act(X); the input buffer serves as the pre-activation.
class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(const LayerConfig& cfg) {
    in = out = static_cast<int64_t>(cfg.get("features", 0));
    if (in <= 0) throw std::invalid_argument("activation: features must be positive");
    act_ = act_from_name(cfg.get_str("activation", "none"));
    ap_ = act_params_from(cfg);
    slope_ = {"slope", {in}};
  }
  std::vector<ParamDecl*> param_decls() override {
    if (act_ == ActKind::PReLU) return {&slope_};
    return {};
  }
  void forward(const float* X, float* Y, float*, int64_t batch, const StepContext& ctx) override {
    ActParams ap = bind(ctx);
    // activation_forward takes a writable Z only to fuse a bias add; with no bias it only reads.
    activation_forward(act_, ap, const_cast<float*>(X), nullptr, Y, batch, out, ctx.training);
  }
  void backward(const float* X, const float* Y, float* dY, float* dX, float*, int64_t batch,
                const StepContext& ctx) override {
    ActParams ap = bind(ctx);
    float* dslope = act_ == ActKind::PReLU ? ctx.grads + slope_.offset : nullptr;
    // Even without dX, PReLU needs the pass for its slope gradient.
    if (!dX && !dslope) return;
    float* target = dX ? dX : dY;
    activation_backward(act_, ap, X, Y, dY, target, nullptr, dslope, batch, out, ctx.training);
  }

 private:
  ActParams bind(const StepContext& ctx) const {
    return bind_act_params(ap_, act_, slope_, index, ctx);
  }
  ActKind act_ = ActKind::None;
  ActParams ap_;
  ParamDecl slope_;
};

}  // namespace

std::unique_ptr<Layer> make_layer(const LayerConfig& cfg) {
  if (cfg.kind == "dense" && cfg.get("weight_norm", 0.0) != 0.0)
    return make_weightnorm_dense_layer(cfg);
  if (cfg.kind == "dense") return std::make_unique<DenseLayer>(cfg);
  if (cfg.kind == "batchnorm") return make_batchnorm_layer(cfg);
  if (cfg.kind == "layernorm") return make_layernorm_layer(cfg);
  if (cfg.kind == "dropout" || cfg.kind == "alphadropout") return make_dropout_layer(cfg);
  if (cfg.kind == "residual") return make_residual_layer(cfg);
  if (cfg.kind == "activation") return std::make_unique<ActivationLayer>(cfg);
  throw std::invalid_argument("unknown layer kind '" + cfg.kind + "'");
}

}  // namespace fastnet

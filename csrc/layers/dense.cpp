#include "layers/dense.h"

#include <memory>

#include "core/blas.h"
#include "layers/fused_activation.h"
#include "layers/registry.h"
#include "layers/weightnorm.h"

namespace fastnet {

void dense_forward(const float* X, const float* W, const float* b, float* Z, float* Y,
                   int64_t batch, int64_t in, int64_t out, ActKind act, const ActParams& ap,
                   bool training) {
  sgemm(false, false, batch, out, in, 1.0f, X, in, W, out, 0.0f, Z, out);
  if (b || act != ActKind::None || Y != Z)
    activation_forward(act, ap, Z, b, Y, batch, out, training);
}

void dense_backward(const float* X, const float* W, const float* Z, const float* Y, float* dY,
                    float* dW, float* db, float* dX, float* dslope, int64_t batch, int64_t in,
                    int64_t out, ActKind act, const ActParams& ap, bool training, float* Wt) {
  if (act != ActKind::None || db)
    activation_backward(act, ap, Z, Y, dY, dY, db, dslope, batch, out, training);
  float* dZ = dY;
  sgemm(true, false, in, out, batch, 1.0f, X, in, dZ, out, 0.0f, dW, out);
  if (!dX) return;
  if (Wt) {
    transpose(W, Wt, in, out);  // Wt (out, in) = Wᵀ
    sgemm(false, false, batch, in, out, 1.0f, dZ, out, Wt, in, 0.0f, dX, in);
  } else {
    sgemm(false, true, batch, in, out, 1.0f, dZ, out, W, out, 0.0f, dX, in);
  }
}

namespace {

// Dense: Y = act(X·W + b), with an optional fused activation (PReLU adds a slope vector).
class DenseLayer : public Layer {
 public:
  explicit DenseLayer(const LayerConfig& cfg) {
    in = static_cast<int64_t>(cfg.number("in_features"));
    out = static_cast<int64_t>(cfg.number("out_features"));
    has_bias_ = cfg.number("bias") != 0.0;
    act_ = act_from_name(cfg.string("activation"));
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

  InferenceRole inference_role() const override {
    InferenceRole r;
    r.kind = InferenceRole::Dense;
    r.weight = &W_;
    r.bias = has_bias_ ? &b_ : nullptr;
    r.act = act_;
    r.ap = ap_;
    r.slope = act_ == ActKind::PReLU ? &slope_ : nullptr;
    return r;
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

ComponentInfo info() {
  ComponentInfo i;
  i.name = "dense";
  i.doc = "Fully connected layer, Y = act(X W + b) with W stored (in, out).";
  i.params = {required_int("in_features", "Width of the input.").at_least(1),
              required_int("out_features", "Width of the output.").at_least(1),
              bool_param("bias", true, "Add a learned bias."),
              str_param("activation", "linear", "Fused activation (its registry entry)."),
              float_param("alpha", 0.01, "LeakyReLU slope or ELU alpha of the fused activation.")
                  .at_least(0.0),
              bool_param("weight_norm", false,
                         "Weight normalization (Salimans & Kingma 2016): W = g v / norm(v).")};
  return i;
}

const LayerRegistrar registrar(info(), [](const LayerConfig& cfg) -> std::unique_ptr<Layer> {
  if (cfg.number("weight_norm") != 0.0) return make_weightnorm_dense_layer(cfg);
  return std::make_unique<DenseLayer>(cfg);
});

}  // namespace

}  // namespace fastnet

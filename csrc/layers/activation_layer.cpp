// A stand-alone activation layer: Y = act(X); the input buffer serves as the pre-activation.
// Its settings are the width, the activation's name and that activation's own parameters.
#include <memory>
#include <stdexcept>

#include "activations/activation.h"
#include "layers/fused_activation.h"
#include "layers/registry.h"

namespace fastnet {

namespace {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(const LayerConfig& cfg) {
    in = out = static_cast<int64_t>(cfg.number("features"));
    act_ = act_from_name(cfg.string("activation"));
    ap_ = act_params_from(cfg);
    if (!(ap_.lower <= ap_.upper))
      throw std::invalid_argument("activation layer: upper must be >= lower");
    // Swish(learnable=True): one learned beta per feature, in the slope's place.
    learned_beta_ = act_ == ActKind::Swish && cfg.values.num.count("learnable") &&
                    cfg.number("learnable") != 0.0;
    slope_ = {learned_beta_ ? "beta" : "slope", {in}};
  }
  std::vector<ParamDecl*> param_decls() override {
    if (learned()) return {&slope_};
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
    float* dslope = learned() ? ctx.grads + slope_.offset : nullptr;
    // Even without dX, PReLU (a learned Swish beta) needs the pass for its own gradient.
    if (!dX && !dslope) return;
    float* target = dX ? dX : dY;
    activation_backward(act_, ap, X, Y, dY, target, nullptr, dslope, batch, out, ctx.training);
  }

  InferenceRole inference_role() const override {
    InferenceRole r;
    r.kind = InferenceRole::Activation;
    r.act = act_;
    r.ap = ap_;
    r.slope = learned() ? &slope_ : nullptr;
    return r;
  }

 private:
  bool learned() const { return act_ == ActKind::PReLU || learned_beta_; }
  ActParams bind(const StepContext& ctx) const {
    ActParams ap = bind_act_params(ap_, act_, slope_, index, ctx);
    if (learned_beta_) ap.slope = ctx.params + slope_.offset;
    return ap;
  }
  ActKind act_ = ActKind::None;
  bool learned_beta_ = false;
  ActParams ap_;
  ParamDecl slope_;
};

ComponentInfo info() {
  ComponentInfo i;
  i.name = "activation";
  i.doc = "A stand-alone activation, Y = f(X) (csrc/activations/).";
  i.params = {required_int("features", "Width of the input and the output.").at_least(1),
              str_param("activation", "linear", "Name of the activation (its registry entry).")};
  i.caps = {{"activation_params", true}};
  return i;
}

const LayerRegistrar registrar(info(), [](const LayerConfig& cfg) -> std::unique_ptr<Layer> {
  return std::make_unique<ActivationLayer>(cfg);
});

}  // namespace

}  // namespace fastnet

#include "layers/dropout.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "core/parallel.h"
#include "core/rng.h"
#include "layers/registry.h"

namespace fastnet {

namespace {

// −λα of SELU (Klambauer et al. 2017): the value SELU saturates to for large negative inputs.
constexpr double kAlphaPrime = -1.7580993408473766;

struct DropCoef {
  float keep_scale;  // a, or 1/(1 − p)
  float keep_shift;  // b, or 0
  float drop_value;  // a·α' + b, or 0
};

DropCoef coefficients(float rate, bool alpha) {
  const double p = rate;
  if (!alpha) return {static_cast<float>(1.0 / (1.0 - p)), 0.0f, 0.0f};
  const double a = 1.0 / std::sqrt((1.0 - p) * (1.0 + p * kAlphaPrime * kAlphaPrime));
  const double b = -a * kAlphaPrime * p;
  return {static_cast<float>(a), static_cast<float>(b), static_cast<float>(a * kAlphaPrime + b)};
}

}  // namespace

void dropout_forward(const float* X, float* Y, uint8_t* keep_mask, int64_t n, float rate,
                     bool alpha, uint64_t key, uint64_t counter0) {
  const DropCoef k = coefficients(rate, alpha);
  const float scale = k.keep_scale, shift = k.keep_shift, dropped = k.drop_value;
  parallel_for(n, kParallelThreshold / 4, [=](int64_t begin, int64_t end) {
    // Locals, not the closure's fields: GCC vectorizes only when the loop reads no captures.
    const uint64_t k0 = key, c0 = counter0;
    const float r = rate, a = scale, b = shift, d = dropped;
    const float* __restrict__ x = X;
    float* __restrict__ y = Y;
    uint8_t* __restrict__ mask = keep_mask;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const bool keep = rng_uniform(k0, c0 + static_cast<uint64_t>(i)) >= r;
      mask[i] = keep;
      y[i] = keep ? x[i] * a + b : d;
    }
  });
}

void dropout_backward(const float* dY, float* dX, const uint8_t* keep_mask, int64_t n, float rate,
                      bool alpha) {
  const float scale = coefficients(rate, alpha).keep_scale;
  parallel_for(n, kParallelThreshold, [=](int64_t begin, int64_t end) {
    const float a = scale;
    const float* __restrict__ dy = dY;
    float* __restrict__ dx = dX;
    const uint8_t* __restrict__ mask = keep_mask;
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dx[i] = mask[i] ? dy[i] * a : 0.0f;
  });
}

namespace {

// Dropout ("dropout") and AlphaDropout ("alphadropout"): identity at inference, masks in
// training and in MC dropout passes (ctx.mc_dropout).
class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(const LayerConfig& cfg) {
    in = out = static_cast<int64_t>(cfg.number("features"));
    rate_ = static_cast<float>(cfg.number("rate"));
    alpha_ = cfg.kind == "alphadropout";
  }
  void forward(const float* X, float* Y, float* ws, int64_t batch,
               const StepContext& ctx) override {
    const int64_t n = batch * in;
    if (!(ctx.training || ctx.mc_dropout) || rate_ == 0.0f) {
      std::memcpy(Y, X, sizeof(float) * n);
      return;
    }
    dropout_forward(X, Y, reinterpret_cast<uint8_t*>(ws), n, rate_, alpha_, key(ctx),
                    static_cast<uint64_t>(ctx.row0) * static_cast<uint64_t>(in));
  }
  void backward(const float*, const float*, float* dY, float* dX, float* ws, int64_t batch,
                const StepContext&) override {
    if (!dX) return;
    const int64_t n = batch * in;
    if (rate_ == 0.0f) {
      std::memcpy(dX, dY, sizeof(float) * n);
      return;
    }
    dropout_backward(dY, dX, reinterpret_cast<const uint8_t*>(ws), n, rate_, alpha_);
  }
  // The keep mask of the last training forward, one byte per element (backward reads it
  // instead of regenerating the random stream).
  size_t workspace_floats(int64_t batch) const override {
    return static_cast<size_t>((batch * in + 3) / 4);
  }

  InferenceRole inference_role() const override {
    InferenceRole r;
    r.kind = InferenceRole::Identity;
    return r;
  }

 private:
  // The same stream derivation as the other random layers (fused_activation.h): seed, index, step.
  uint64_t key(const StepContext& ctx) const { return layer_rng_key(ctx.seed, index, ctx.step); }
  float rate_ = 0.5f;
  bool alpha_ = false;
};

std::unique_ptr<Layer> make(const LayerConfig& cfg) { return std::make_unique<DropoutLayer>(cfg); }

ComponentInfo info(std::string name, std::string doc) {
  ComponentInfo i;
  i.name = std::move(name);
  i.doc = std::move(doc);
  i.params = {
      required_int("features", "Width of the input and the output.").at_least(1),
      float_param("rate", 0.5, "Probability that an element is dropped.").at_least(0.0).below(1.0)};
  return i;
}

const LayerRegistrar dropout_registrar(
    info("dropout", "Inverted dropout (Srivastava et al. 2014): Y = keep ? X / (1 - rate) : 0."),
    make);
const LayerRegistrar alphadropout_registrar(
    info("alphadropout",
         "Alpha dropout for SELU networks (Klambauer et al. 2017, torch.nn.AlphaDropout)."),
    make);

}  // namespace

}  // namespace fastnet

// The layer interface of the C++ model: every layer reads its parameters from, and writes
// its gradients to, segments of the model's flat arenas.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "activations/activation.h"
#include "core/spec.h"

namespace fastnet {

class Collective;  // engine/collective.h

// One parameter tensor: a segment [offset, offset + size) of the parameter arena and, at the
// same offset, of the gradient arena (and of every optimizer state arena).
struct ParamDecl {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;
  bool trainable = true;  // false: optimizers skip it (Parameter.trainable, layer.freeze())
  size_t size() const {
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    return n;
  }
};

// What a layer sees during one forward or backward call.
struct StepContext {
  float* params = nullptr;  // parameter arena base
  float* grads = nullptr;   // gradient arena base
  bool training = false;
  uint64_t seed = 0;  // model seed (counter-based RNG)
  uint64_t step = 0;  // training-forward counter: a fresh random stream each step
  // MC dropout (Gal & Ghahramani 2016, csrc/engine/mc_dropout.cpp): an inference pass
  // (training false: BatchNorm uses its running statistics and updates nothing) in which the
  // dropout layers still draw masks. Only dropout layers read it.
  bool mc_dropout = false;
  // Index of the batch's first row in the whole input (MC dropout runs in chunks): a dropout
  // mask's counter is the element's global index, so masks do not depend on the chunking.
  int64_t row0 = 0;
  // Data-parallel training step (engine/collective.h): BatchNorm synchronises through it.
  Collective* collective = nullptr;
};

// A layer's configuration: its kind, its settings (checked against the kind's registry entry,
// defaults filled in, before any layer sees them: csrc/layers/registry.cpp) and its children.
struct LayerConfig {
  std::string kind;
  Settings values;
  std::vector<LayerConfig> children;
  double number(const std::string& k) const { return values.number(k); }
  const std::string& string(const std::string& k) const { return values.string(k); }
};

// What inference may fuse (csrc/engine/infer_plan.cpp): a Dense, with a BatchNorm and an
// activation after it, becomes one product whose epilogue applies both; a Dropout is the
// identity. Opaque layers run their own forward.
struct InferenceRole {
  enum Kind { Opaque, Identity, Dense, BatchNorm, Activation };
  Kind kind = Opaque;
  const ParamDecl* weight = nullptr;  // Dense: (in, out)
  const ParamDecl* bias = nullptr;    // Dense (null: no bias), BatchNorm β (null: not affine)
  const ParamDecl* gamma = nullptr;   // BatchNorm γ (null: not affine)
  const ParamDecl* mean = nullptr;    // BatchNorm running statistics
  const ParamDecl* var = nullptr;
  float eps = 0.0f;
  ActKind act = ActKind::None;  // the layer's own (fused) activation
  ActParams ap;
  const ParamDecl* slope = nullptr;  // PReLU's slope, a learned Swish beta
};

class Layer {
 public:
  virtual ~Layer() = default;
  int64_t in = 0, out = 0;
  int index = 0;  // position in the model: selects this layer's random stream
  // Training needs batch statistics (two rows at least): set from the kind's registry entry
  // ("batch_statistics"); a composite layer has it when a child has.
  bool batch_statistics = false;

  // Pointers to this layer's parameter declarations (and its children's), in order.
  virtual std::vector<ParamDecl*> param_decls() { return {}; }
  // Floats of per-batch scratch this layer keeps between forward and backward.
  virtual size_t workspace_floats(int64_t /*batch*/) const { return 0; }
  // Y (batch, out) = f(X (batch, in)).
  virtual void forward(const float* X, float* Y, float* ws, int64_t batch,
                       const StepContext& ctx) = 0;
  // dY (batch, out) may be overwritten. dX (batch, in) is written unless null.
  // Parameter gradients are overwritten.
  virtual void backward(const float* X, const float* Y, float* dY, float* dX, float* ws,
                        int64_t batch, const StepContext& ctx) = 0;
  // How inference may fuse this layer (default: it runs its own forward).
  virtual InferenceRole inference_role() const { return {}; }
  // Assign random-stream indices (composite layers number their children).
  virtual int assign_index(int next) {
    index = next;
    return next + 1;
  }
};

}  // namespace fastnet

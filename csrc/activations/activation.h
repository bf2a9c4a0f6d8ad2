// Activation functions, forward and backward, with the bias add of a Dense layer fused in.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/spec.h"

namespace fastnet {

enum class ActKind : int {
  None = 0,
  Sigmoid,
  Tanh,
  Softmax,
  ReLU,
  LeakyReLU,
  PReLU,
  RReLU,
  ELU,
  SELU,
  GELU,
  GELUTanh,
  Swish,
  Mish,
};

// The activation registry (csrc/activations/registry.cpp): one entry per kind, with its
// hyper-parameters and the capabilities "init" (glorot | he | lecun: the rule init="auto"
// applies to a Dense before it), "learned" (a per-feature slope in the arena, always), "learnable"
// ([switch, param]: a per-feature arena tensor named param, started at param's value, when the bool
// switch is on), "rowwise" (softmax), "identity" (the no-activation names), "random" (training
// draws from the RNG), "ordered" (two params that must not decrease), "class" (the public layer
// class, when one is generated) and "class_aliases".
struct ActivationEntry {
  ComponentInfo info;
  ActKind kind;
};
const std::vector<ActivationEntry>& activation_entries();
// The entry for a name or alias; throws std::invalid_argument naming the known ones.
const ActivationEntry& activation_entry(const std::string& name);
inline ActKind act_from_name(const std::string& name) { return activation_entry(name).kind; }

struct ActParams {
  float alpha = 0.01f;        // LeakyReLU slope, ELU alpha
  float lower = 1.0f / 8.0f;  // RReLU slope range
  float upper = 1.0f / 3.0f;
  float beta = 1.0f;  // Swish's fixed beta, x * sigmoid(beta * x)
  // One learned value per feature (cols): PReLU's slope, or Swish's beta when it is learned
  // (it then replaces the fixed beta).
  const float* slope = nullptr;
  uint64_t rng_key = 0;  // RReLU: counter-based stream for this layer and step
};

// Z (rows, cols) is the pre-activation. When bias is given, Z += bias (broadcast over rows)
// first, in the same pass. Y = act(Z). Y may alias Z when no bias is given (the inference
// epilogue applies the activation in place). `reference` runs the plain libm loops (one
// element at a time) instead of the vectorized core/fast_math.h kernels.
void activation_forward(ActKind k, const ActParams& p, float* Z, const float* bias, float* Y,
                        int64_t rows, int64_t cols, bool training, bool reference = false);

// dZ = dY ⊙ act'(Z) (softmax: the Jacobian-vector product). dZ may alias dY.
// dbias (cols), when given, is overwritten with the column sums of dZ; dslope (cols), for
// PReLU or a learned Swish beta (p.slope set), with the gradient of that per-feature value.
// Both accumulate in the same pass.
void activation_backward(ActKind k, const ActParams& p, const float* Z, const float* Y,
                         const float* dY, float* dZ, float* dbias, float* dslope, int64_t rows,
                         int64_t cols, bool training, bool reference = false);

}  // namespace fastnet

// Losses: value and gradient together, mean-reduced (Keras / PyTorch conventions).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/spec.h"

namespace fastnet {

enum class LossKind : int {
  MSE = 0,
  MAE,
  Huber,
  LogCosh,
  MAPE,
  MSLE,
  Hinge,
  SquaredHinge,
  CategoricalHinge,
  BinaryCrossentropy,
  CategoricalCrossentropy,
  SparseCategoricalCrossentropy,
  KLDivergence,
  Poisson,
  CosineSimilarity,
};

struct LossParams {
  float delta = 1.0f;        // huber
  bool from_logits = false;  // binary / categorical cross-entropy (defaults: the registry)
};

// The loss registry (csrc/losses/registry.cpp): one entry per kind, with its hyper-parameters
// (huber's delta, the cross-entropies' from_logits and its default) and the capabilities
// "target" (dense: float targets of pred's shape; labels: int class indices), "pred" (any |
// non_negative | probabilities: what pred must be when from_logits is false) and
// "classification" (accuracy is a meaningful default metric).
struct LossEntry {
  ComponentInfo info;
  LossKind kind;
};
const std::vector<LossEntry>& loss_entries();
// The entry for a name or alias; throws std::invalid_argument naming the known ones.
const LossEntry& loss_entry(const std::string& name);
inline LossKind loss_from_name(const std::string& name) { return loss_entry(name).kind; }

// A loss and its checked settings: the one path from a name and its values to the kernel.
struct LossSettings {
  LossKind kind;
  LossParams params;
};
// Checks `values` (by name: delta, from_logits, ...) against the entry of `name`; a value the
// entry does not have is refused, a missing one takes the entry's default.
LossSettings loss_settings(const std::string& name, const Settings& values);

// Returns the mean loss. pred: (rows, cols) row-major float32.
// target: (rows, cols) float32 for every loss except SparseCategoricalCrossentropy,
// which reads labels (rows,) int32 instead (target may be null then).
// grad: (rows, cols) written with d(mean loss)/d(pred), or null to skip it.
// Element-wise losses average over rows*cols; per-sample losses sum over cols and
// average over rows. Accumulation in double.
// weights: (rows,) non-negative sample weights, or null for all ones. The weighted mean is
// sum_i w_i l_i / sum_i w_i, where l_i is row i's loss (an element-wise loss's row mean):
// torch's weighted mean reduction (F.cross_entropy(weight=...)), so the value does not depend
// on the weights' scale and equals the unweighted mean for equal weights. Keras divides by
// the row count instead. A batch whose weights sum to 0 has loss 0 and gradient 0.
double loss_forward_backward(LossKind kind, const LossParams& p, const float* pred,
                             const float* target, const int32_t* labels, float* grad, int64_t rows,
                             int64_t cols, const float* weights = nullptr);

// sum of weights[0..rows), or rows when weights is null (the denominator above).
double weight_sum(const float* weights, int64_t rows);

}  // namespace fastnet

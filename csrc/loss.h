// Losses: value and gradient together, mean-reduced (Keras / PyTorch conventions).
#pragma once
#include <cstdint>
#include <string>

namespace fastnet {

enum class LossKind : int {
  MSE = 0, MAE, Huber, LogCosh, MAPE, MSLE, Hinge, SquaredHinge, CategoricalHinge,
  BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
  KLDivergence, Poisson, CosineSimilarity,
};

struct LossParams {
  float delta = 1.0f;        // huber
  bool from_logits = false;  // binary / categorical cross-entropy; sparse defaults to true in Python
};

LossKind loss_from_name(const std::string& name);  // throws std::invalid_argument

// Returns the mean loss. pred: (rows, cols) row-major float32.
// target: (rows, cols) float32 for every loss except SparseCategoricalCrossentropy,
// which reads labels (rows,) int32 instead (target may be null then).
// grad: (rows, cols) written with d(mean loss)/d(pred), or null to skip it.
// Element-wise losses average over rows*cols; per-sample losses sum over cols and
// average over rows. Accumulation in double.
double loss_forward_backward(LossKind kind, const LossParams& p, const float* pred,
                             const float* target, const int32_t* labels, float* grad,
                             int64_t rows, int64_t cols);

}  // namespace fastnet

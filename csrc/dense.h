// Dense layer kernels: Y = act(X·W + b), W stored (in, out) row-major.
#pragma once
#include <cstdint>

#include "activation.h"

namespace fastnet {

// Z = X·W by sgemm, then one pass adds b and applies the activation (Z keeps the
// pre-activation for backward; Y may alias Z when act is None).
void dense_forward(const float* X, const float* W, const float* b, float* Z, float* Y,
                   int64_t batch, int64_t in, int64_t out, ActKind act, const ActParams& ap,
                   bool training);

// dY (batch, out) is overwritten with dZ = dY ⊙ act'(Z); db accumulated in that same pass.
// dW = Xᵀ·dZ and dX = dZ·Wᵀ by sgemm; dX null skips it (first layer of a training step).
// db and dslope may be null. Gradients are overwritten, not accumulated.
void dense_backward(const float* X, const float* W, const float* Z, const float* Y, float* dY,
                    float* dW, float* db, float* dX, float* dslope, int64_t batch, int64_t in,
                    int64_t out, ActKind act, const ActParams& ap, bool training);

}  // namespace fastnet

// Dense layer kernels: Y = act(X·W + b), W stored (in, out) row-major.
#pragma once
#include <cstdint>

#include "activations/activation.h"

namespace fastnet {

// Z = X·W by sgemm, then one pass adds b and applies the activation (Z keeps the
// pre-activation for backward; Y may alias Z when act is None).
void dense_forward(const float* X, const float* W, const float* b, float* Z, float* Y,
                   int64_t batch, int64_t in, int64_t out, ActKind act, const ActParams& ap,
                   bool training);

// dY (batch, out) is overwritten with dZ = dY ⊙ act'(Z); db accumulated in that same pass.
// dW = Xᵀ·dZ and dX = dZ·Wᵀ by sgemm; dX null skips it (first layer of a training step).
// db and dslope may be null. Gradients are overwritten, not accumulated.
// Wt: scratch of in·out floats when dense_dx_transposes(batch, in, out), else null.
void dense_backward(const float* X, const float* W, const float* Z, const float* Y, float* dY,
                    float* dW, float* db, float* dX, float* dslope, int64_t batch, int64_t in,
                    int64_t out, ActKind act, const ActParams& ap, bool training,
                    float* Wt = nullptr);

// Whether dX = dZ·Wᵀ is faster as Wᵀ (one somatcopy) then a plain NN product. OpenBLAS's NT
// path runs small and narrow weights at up to half the NN rate (measured, 1 thread, Zen 4:
// 32×128 · (128×128)ᵀ 13.8 µs vs 1.8 + 9.5 µs; 128×10 · (512×10)ᵀ 23 µs vs 0.6 + 13.4 µs);
// for larger square weights the copy costs what it saves (32×128 · (256×128)ᵀ: 28.4 µs vs
// 4.1 + 25.9 µs).
inline bool dense_dx_transposes(int64_t batch, int64_t in, int64_t out) {
  return batch >= 16 && (in * out <= 16384 || (out <= 16 && in <= 65536));
}

}  // namespace fastnet

// Layer normalization (Ba, Kiros & Hinton 2016) over the features of each row, with a learned
// per-feature scale and shift (torch.nn.LayerNorm with elementwise_affine=True).
// The plain reference is the float64 NumPy re-implementation in tests/test_normalization.py.
#pragma once
#include <cstdint>

namespace fastnet {

// Y = γ·(X − μ_r)·rstd_r + β per row r (biased variance, as torch). mean/rstd (batch) saved.
void layernorm_forward(const float* X, const float* gamma, const float* beta, float* Y, float* mean,
                       float* rstd, float eps, int64_t batch, int64_t features);

// With g = dY·γ: dX = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row (skipped when dX is null);
// dγ = Σ_r dY·x̂, dβ = Σ_r dY (null when not affine).
void layernorm_backward(const float* X, const float* gamma, const float* mean, const float* rstd,
                        const float* dY, float* dX, float* dgamma, float* dbeta, int64_t batch,
                        int64_t features);

}  // namespace fastnet

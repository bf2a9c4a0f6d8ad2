// Batch normalization (Ioffe & Szegedy 2015) over the rows of a (batch, features) matrix, with
// PyTorch BatchNorm1d conventions: training normalizes with the biased batch variance and
// updates running = (1 − momentum)·running + momentum·batch_stat with the unbiased variance
// m/(m−1)·σ²_B; inference uses the running statistics. With momentum=None (torch's cumulative
// moving average, "cumulative" here) the weight of batch n is 1/n, so the running statistics
// are the plain average over every training batch so far: the population statistics of
// Ioffe & Szegedy 2015, Alg. 2 (E[x] ← E_B[μ_B], Var[x] ← m/(m−1)·E_B[σ²_B]). The count n is
// the buffer num_batches_tracked. An optional ReLU is fused into the normalize pass
// (Sequential merges a BatchNorm→ReLU pair into one layer).
#pragma once
#include <cstdint>

#include "engine/collective.h"

// The plain reference is the float64 NumPy re-implementation in tests/test_normalization.py.

namespace fastnet {

// Pass 1: per-column mean and 1/sqrt(σ²_B + eps) with shifted double accumulators; running
// statistics updated with weight `momentum` (1/n for the cumulative average). Pass 2: Y = act(γ·(X
// − μ)·invstd + β). gamma/beta null: γ = 1, β = 0. Throws std::invalid_argument for batch < 2 (the
// batch variance is undefined).
// sync (data-parallel training, engine/collective.h): the column sums, shifted by the running
// mean (equal on every rank), are all-reduced so the statistics are those of the global
// batch; *sync_rows receives its row count.
void batchnorm_forward_train(const float* X, const float* gamma, const float* beta, float* Y,
                             float* mean, float* invstd, float* running_mean, float* running_var,
                             float momentum, float eps, int64_t batch, int64_t features, bool relu,
                             Collective* sync = nullptr, double* sync_rows = nullptr);

// Inference: Y = act(γ·(X − running_mean)/sqrt(running_var + eps) + β), one pass.
void batchnorm_forward_infer(const float* X, const float* gamma, const float* beta,
                             const float* running_mean, const float* running_var, float eps,
                             float* Y, int64_t batch, int64_t features, bool relu);

// Backward of the training forward. dZ = dY ⊙ relu'(Z) (Y > 0 marks the active units).
// Pass 1 (two column reductions): dβ = Σ dZ, dγ = Σ dZ·x̂. Pass 2 (one write, skipped when dX
// is null): dX = γ·invstd·(dZ − dβ/m − x̂·dγ/m). dgamma/dbeta null when not affine.
// sync: dX uses the two sums all-reduced over the ranks and m = sync_rows (the global batch);
// dγ, dβ stay this rank's sums (the gradient all-reduce averages them).
void batchnorm_backward(const float* X, const float* Y, const float* gamma, const float* mean,
                        const float* invstd, const float* dY, float* dX, float* dgamma,
                        float* dbeta, int64_t batch, int64_t features, bool relu,
                        Collective* sync = nullptr, double sync_rows = 0.0);

}  // namespace fastnet

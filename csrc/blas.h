// OpenBLAS from the scipy-openblas32 wheel: its cblas.h declares the scipy_-prefixed symbols.
#pragma once
#include <cblas.h>

#include "threads.h"

namespace fastnet {

// Below this many multiply-adds a GEMM runs on the calling thread alone: OpenBLAS threads
// products from 2^18 multiply-adds, where waking and synchronising a second thread costs more
// than it saves (the tiny workload's 32×128×128 products ran slower on 2 threads than on 1).
constexpr double kGemmThreadingMacs = 4.0 * 1024 * 1024;

// C (m×n) = alpha · op(A) · op(B) + beta · C, all row-major.
inline void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  const int threads = blas_threads();
  const bool alone = threads > 1 && static_cast<double>(m) * static_cast<double>(n) *
                                            static_cast<double>(k) < kGemmThreadingMacs;
  if (alone) scipy_openblas_set_num_threads(1);
  scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
                    static_cast<blasint>(n), static_cast<blasint>(k), alpha, A,
                    static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
                    static_cast<blasint>(ldc));
  if (alone) scipy_openblas_set_num_threads(threads);
}

}  // namespace fastnet

// OpenBLAS from the scipy-openblas32 wheel: its cblas.h declares the scipy_-prefixed symbols.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "common.h"
#include "threads.h"

namespace fastnet {

// Below this many multiply-adds a GEMM runs on the calling thread alone: OpenBLAS threads
// products from 2^18 multiply-adds, where waking and synchronising a second thread costs more
// than it saves (the tiny workload's 32×128×128 products ran slower on 2 threads than on 1).
constexpr double kGemmThreadingMacs = 4.0 * 1024 * 1024;

// Products that OpenBLAS would run on one thread but that still pay for a second core are
// split by columns of C across the team, each share computed by OpenBLAS on its thread:
// - a few rows of A and a large B (batch-1 inference: a GEMV in all but name) is bound by
//   streaming B from cache, not by FLOPs; each core streams its own share of B, so the
//   bandwidth of every core's caches adds up (predict at batch 1: 40 -> 27 us, 2 threads);
// - from kSplitMacs multiply-adds (the 32×256×256 products of the digits model): 30 epochs
//   0.317 -> 0.24 s at 2 threads. Below it (the tiny model's 32×128×128) the fork and join
//   cost what the second core saves.
constexpr int64_t kStreamRowsMax = 8;                  // rows of op(A) (and C)
constexpr double kStreamFloatsMin = 128.0 * 1024;      // elements of B (512 KB)
constexpr double kSplitMacs = 1024.0 * 1024;

inline void sgemm_one_thread(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float* A, int64_t lda, const float* B,
                             int64_t ldb, float beta, float* C, int64_t ldc) {
  scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
                    static_cast<blasint>(n), static_cast<blasint>(k), alpha, A,
                    static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
                    static_cast<blasint>(ldc));
}

// C (m×n) = alpha · op(A) · op(B) + beta · C, all row-major.
inline void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  const int threads = blas_threads();
  const double macs = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool alone = threads > 1 && macs < kGemmThreadingMacs;
  const bool split = alone && n >= 32 * threads && !in_parallel() &&
                     ((m <= kStreamRowsMax &&
                       static_cast<double>(n) * static_cast<double>(k) >= kStreamFloatsMin) ||
                      macs >= kSplitMacs);
  if (alone) scipy_openblas_set_num_threads(1);
  if (split) {
    // Column j of op(B) starts at B + j (B is k×n) or B + j·ldb (B is n×k, transposed).
#pragma omp parallel num_threads(threads)
    {
      const int64_t nt = team_size(), t = thread_id();
      int64_t chunk = (n + nt - 1) / nt;
      chunk = (chunk + 15) / 16 * 16;  // whole cache lines of C and of B's rows
      const int64_t j0 = std::min(n, t * chunk), j1 = std::min(n, j0 + chunk);
      if (j0 < j1)
        sgemm_one_thread(trans_a, trans_b, m, j1 - j0, k, alpha, A, lda,
                         trans_b ? B + j0 * ldb : B + j0, ldb, beta, C + j0, ldc);
    }
  } else {
    sgemm_one_thread(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if (alone) scipy_openblas_set_num_threads(threads);
}

// B (cols×rows) = Aᵀ for a row-major A (rows×cols), by OpenBLAS's blocked omatcopy.
inline void transpose(const float* A, float* B, int64_t rows, int64_t cols) {
  scipy_cblas_somatcopy(CblasRowMajor, CblasTrans, static_cast<blasint>(rows),
                        static_cast<blasint>(cols), 1.0f, A, static_cast<blasint>(cols), B,
                        static_cast<blasint>(rows));
}

}  // namespace fastnet

// OpenBLAS from the scipy-openblas32 wheel: its cblas.h declares the scipy_-prefixed symbols.
//
// OpenBLAS always runs single-threaded here (its thread count is set to 1 once, at load:
// csrc/bindings.cpp). Products worth a second core are split into independent blocks of C
// that fastnet's pool runs (csrc/threads.h), each block one single-threaded OpenBLAS call.
// Nothing process-wide is changed per call, so any number of threads may call sgemm at once.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "core/parallel.h"
#include "core/threads.h"

namespace fastnet {

// Below this many multiply-adds a GEMM runs on the calling thread alone: waking and
// synchronising a second thread costs more than it saves (the tiny workload's 32×128×128
// products ran slower on 2 threads than on 1).
constexpr double kSplitMacs = 1024.0 * 1024;
// A few rows of op(A) against a large B (batch-1 inference, a GEMV in all but name) is bound
// by streaming B from cache, not by FLOPs: each core streams its own share of B, so the
// bandwidth of every core's caches adds up (predict at batch 1: 40 -> 27 us, 2 threads).
constexpr int64_t kStreamRowsMax = 8;              // rows of op(A) (and C)
constexpr double kStreamFloatsMin = 128.0 * 1024;  // elements of B (512 KB)

inline void sgemm_one_thread(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                             float beta, float* C, int64_t ldc) {
  scipy_cblas_sgemm(
      CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
      static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, A,
      static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

// How a product is cut: `blocks` contiguous 16-aligned ranges of C's columns (by_rows false)
// or of C's rows (by_rows true). blocks == 1: one call on the calling thread. Depends only on
// the shape and the configured thread count, so the same product gives the same bits whether
// the pool helped or the caller ran every block itself.
struct GemmSplit {
  int64_t blocks = 1;
  int64_t size = 0;
  bool by_rows = false;
};

inline GemmSplit gemm_split(int64_t m, int64_t n, int64_t k, int threads) {
  GemmSplit s;
  if (threads <= 1) return s;
  const double macs = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool stream =
      m <= kStreamRowsMax && static_cast<double>(n) * static_cast<double>(k) >= kStreamFloatsMin;
  if (macs < kSplitMacs && !stream) return s;
  // Cut the longer side of C: each block re-packs the whole of the other operand.
  s.by_rows = m > n;
  const int64_t side = s.by_rows ? m : n;
  // One block per thread: two per thread (so a descheduled thread leaves part of its share to
  // the others) measured the same beside a busy neighbour and 5-10% slower alone (each block
  // re-packs the other operand): mnist step at 2 threads 2.31 vs 2.43 ms, predict batch 256
  // 1.43 vs 1.57 ms.
  int64_t blocks = std::min<int64_t>(threads, side / 16);
  if (blocks < 2) return s;
  int64_t size = (side + blocks - 1) / blocks;
  size = padded_floats(size);  // whole cache lines of C and of B's rows
  s.blocks = (side + size - 1) / size;
  s.size = size;
  return s;
}

// OpenBLAS must stay single-threaded: a library that sets every BLAS it finds in the process
// (threadpoolctl, which scikit-learn uses) may have raised its thread count, and each of our
// blocks would then start OpenBLAS threads of its own on cores our pool already uses (wide
// at 2 threads: 61 -> 110 ms). Reading the count is a load; it is only ever set back to 1,
// never flipped around a call.
inline void keep_openblas_single_threaded() {
  if (scipy_openblas_get_num_threads() != 1) scipy_openblas_set_num_threads(1);
}

// C (m×n) = alpha · op(A) · op(B) + beta · C, all row-major.
inline void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc) {
  if (!in_parallel()) keep_openblas_single_threaded();
  const GemmSplit s = in_parallel() ? GemmSplit{} : gemm_split(m, n, k, max_threads());
  if (s.blocks <= 1) {
    sgemm_one_thread(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  run_chunks(s.blocks, [&](int64_t b) {
    const int64_t lo = b * s.size;
    const int64_t len = std::min(s.by_rows ? m : n, lo + s.size) - lo;
    if (len <= 0) return;
    if (s.by_rows) {
      // Row i of op(A) starts at A + i·lda (A is m×k) or A + i (A is k×m, transposed).
      sgemm_one_thread(trans_a, trans_b, len, n, k, alpha, trans_a ? A + lo : A + lo * lda, lda, B,
                       ldb, beta, C + lo * ldc, ldc);
    } else {
      // Column j of op(B) starts at B + j (B is k×n) or B + j·ldb (B is n×k, transposed).
      sgemm_one_thread(trans_a, trans_b, m, len, k, alpha, A, lda, trans_b ? B + lo * ldb : B + lo,
                       ldb, beta, C + lo, ldc);
    }
  });
}

// B (cols×rows) = Aᵀ for a row-major A (rows×cols), by OpenBLAS's blocked omatcopy.
inline void transpose(const float* A, float* B, int64_t rows, int64_t cols) {
  scipy_cblas_somatcopy(CblasRowMajor, CblasTrans, static_cast<blasint>(rows),
                        static_cast<blasint>(cols), 1.0f, A, static_cast<blasint>(cols), B,
                        static_cast<blasint>(rows));
}

}  // namespace fastnet

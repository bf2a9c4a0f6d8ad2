// Parallel loops on the pool (core/threads.h) and the denormal flush every chunk runs under.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/arena.h"
#include "core/threads.h"
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTNET_HAVE_MXCSR 1
#endif

namespace fastnet {

// Elementwise loops below this many elements run on one thread: waking a worker
// costs more than the work (a few microseconds) on small batches.
constexpr int64_t kParallelThreshold = 1 << 15;

// Flush-to-zero and denormals-are-zero for the current thread while in scope, then the
// caller's mode again (NumPy on the same thread keeps IEEE denormals). Optimizer state that
// decays geometrically (Adam's m for a unit whose gradient is 0) reaches float32 denormals
// after ~700 steps, and arithmetic on denormals is 10-100x slower on x86.
class FlushDenormals {
 public:
  FlushDenormals() {
#ifdef FASTNET_HAVE_MXCSR
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
  }
  ~FlushDenormals() {
#ifdef FASTNET_HAVE_MXCSR
    _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned int saved_ = 0;
};

// The configured (process-wide) thread count: how many chunks a parallel loop is cut into.
inline int max_threads() { return num_threads(); }
// True inside a pool chunk: a loop started there runs on the calling thread (never nested).
inline bool in_parallel() { return in_pool_task(); }

// Runs body(part, begin, end) for `parts` fixed contiguous ranges of [0, n) (range `part` is
// [n·part/parts, n·(part+1)/parts)), on the pool when parts > 1 and the caller is not already
// inside a pool chunk, else as body(0, 0, n) on the calling thread. Ranges depend on n and
// parts only, never on which thread runs them, so partials indexed by part and added in part
// order give the same result however the pool was used.
template <class Body>
inline void for_each_range_on(int64_t n, int parts, Body&& body) {
  if (parts > 1 && n > 1 && !in_parallel()) {
    run_chunks(parts,
               [&](int64_t t) { body(static_cast<int>(t), n * t / parts, n * (t + 1) / parts); });
  } else {
    body(0, int64_t{0}, n);
  }
}

// Runs body(i) for every i in [0, n): cut into up to 4 contiguous ranges per thread (claimed
// dynamically, so a descheduled worker leaves its share to the others) when `parallel` and
// more than one thread is configured, else a plain loop on the calling thread. Small loops
// never touch the pool.
template <class Body>
inline void for_each_index(int64_t n, bool parallel, Body&& body) {
  const int threads = max_threads();
  const int parts =
      parallel && threads > 1 ? static_cast<int>(std::min<int64_t>(n, 4 * threads)) : 1;
  for_each_range_on(n, parts, [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

// As for_each_index, with the index of a fixed range in [0, nthreads) for per-range
// partials: body(part, i) (see for_each_range_on). nthreads == 1 runs on the calling thread
// as part 0.
template <class Body>
inline void for_each_index_on(int64_t n, int nthreads, Body&& body) {
  for_each_range_on(n, nthreads, [&](int part, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(part, i);
  });
}

// Runs body(begin, end) over [0, n): directly on the calling thread when n < threshold, one
// thread is configured or the caller is already inside a pool chunk, else cut into 16-element
// aligned ranges (up to 4 per thread, at least threshold / 2 elements each) that the pool's
// threads claim. Every range runs with denormals flushed.
//
// Extra arguments are passed on to body(begin, end, args...): declare pointer parameters
// __restrict__ there, so the compiler knows the arrays do not alias and vectorizes the loop.
template <class Body, class... Args>
inline void parallel_for(int64_t n, int64_t threshold, Body&& body, Args... args) {
  if (n <= 0) return;
  const int threads = max_threads();
  if (n < threshold || threads == 1 || in_parallel()) {
    body(int64_t{0}, n, args...);
    return;
  }
  const int64_t min_chunk = std::max<int64_t>(16, threshold / 2);
  int64_t chunks = std::min<int64_t>(4 * static_cast<int64_t>(threads), n / min_chunk);
  chunks = std::max<int64_t>(chunks, threads);
  int64_t size = (n + chunks - 1) / chunks;
  size = padded_floats(size);  // chunks start on cache lines
  chunks = (n + size - 1) / size;
  run_chunks(chunks, [&](int64_t c) {
    FlushDenormals ftz;
    const int64_t begin = c * size, end = std::min(n, begin + size);
    body(begin, end, args...);
  });
}

}  // namespace fastnet

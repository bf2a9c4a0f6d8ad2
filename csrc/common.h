// Shared helpers for the C++ core: aligned buffers, OpenMP thresholds.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTNET_HAVE_MXCSR 1
#endif

namespace fastnet {

// Elementwise loops below this many elements run on one thread: forking a team
// costs more than the work (a few microseconds) on small batches.
constexpr int64_t kParallelThreshold = 1 << 15;

// Upper bound accepted by set_num_threads (a typo such as 10**6 must not spawn a million threads).
constexpr int kMaxThreads = 1024;

// 64-byte aligned float buffer (one cache line, one AVX-512 vector).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  ~AlignedBuffer() { std::free(ptr_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : ptr_(o.ptr_), n_(o.n_) { o.ptr_ = nullptr; o.n_ = 0; }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) { std::free(ptr_); ptr_ = o.ptr_; n_ = o.n_; o.ptr_ = nullptr; o.n_ = 0; }
    return *this;
  }
  // Grows (never shrinks) and zero-fills the whole buffer when it grows.
  void resize(size_t n) {
    if (n <= n_ && ptr_) return;
    // n * 4 + 63 must not wrap: a wrapped size would allocate a few bytes for n floats.
    if (n > (SIZE_MAX - 63) / sizeof(float)) throw std::bad_alloc();
    std::free(ptr_);
    size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
    if (bytes == 0) bytes = 64;
    ptr_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!ptr_) throw std::bad_alloc();
    std::memset(ptr_, 0, bytes);
    n_ = n;
  }
  void zero() { if (ptr_) std::memset(ptr_, 0, n_ * sizeof(float)); }
  float* data() { return ptr_; }
  const float* data() const { return ptr_; }
  size_t size() const { return n_; }

 private:
  float* ptr_ = nullptr;
  size_t n_ = 0;
};

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

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}
inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

// Runs body(i) for every i in [0, n): split statically across the team when `parallel` and
// more than one thread is allowed, else as a plain loop on the calling thread. It never opens
// a one-thread OpenMP region: libgomp makes a futex syscall for every region it enters, even
// for a team of one (an `if (false)` clause included), ~20 per tiny training step.
template <class Body>
inline void for_each_index(int64_t n, bool parallel, Body&& body) {
  if (parallel && n > 1 && max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

// As for_each_index, with the thread's index in [0, nthreads) for per-thread partials:
// body(thread, i). nthreads == 1 runs on the calling thread as thread 0.
template <class Body>
inline void for_each_index_on(int64_t n, int nthreads, Body&& body) {
  if (nthreads > 1 && n > 1) {
#pragma omp parallel num_threads(nthreads)
    {
      const int t = thread_id();
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) body(t, i);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) body(0, i);
  }
}

// Runs body(begin, end) over [0, n): directly on the calling thread when n < threshold, one
// thread is configured or the caller is already inside a parallel region (no OpenMP fork at
// all), else as one contiguous, 16-element aligned chunk per thread of the team (static
// partition: the same split for the same thread count). Every thread flushes denormals while
// it works.
//
// Extra arguments are passed on to body(begin, end, args...): declare pointer parameters
// __restrict__ there, so the compiler knows the arrays do not alias and vectorizes the loop.
template <class Body, class... Args>
inline void parallel_for(int64_t n, int64_t threshold, Body&& body, Args... args) {
  if (n <= 0) return;
  if (n < threshold || max_threads() == 1 || in_parallel()) {  // never a nested region
    body(int64_t{0}, n, args...);
    return;
  }
#pragma omp parallel
  {
    FlushDenormals ftz;
    const int64_t t = thread_id();
#ifdef _OPENMP
    const int64_t nt = omp_get_num_threads();
#else
    const int64_t nt = 1;
#endif
    int64_t chunk = (n + nt - 1) / nt;
    chunk = (chunk + 15) / 16 * 16;
    const int64_t begin = std::min(n, t * chunk), end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end, args...);
  }
}

}  // namespace fastnet

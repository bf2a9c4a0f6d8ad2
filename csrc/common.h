// Shared helpers for the C++ core: aligned buffers, OpenMP thresholds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#ifdef _OPENMP
#include <omp.h>
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

}  // namespace fastnet

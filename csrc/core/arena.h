// The arena rule, in one place: every buffer and every segment of a flat arena (parameters,
// gradients, optimizer state, layer workspaces) starts on a 64-byte boundary — one cache line,
// one AVX-512 vector — so segments never share a line and vector loads are aligned.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace fastnet {

constexpr size_t kAlignBytes = 64;
constexpr size_t kAlignFloats = kAlignBytes / sizeof(float);  // 16

// n rounded up to whole 64-byte lines of floats: the size a segment of n floats occupies.
template <class Int>
constexpr Int padded_floats(Int n) {
  constexpr Int a = static_cast<Int>(kAlignFloats);
  return (n + a - 1) / a * a;
}

// 64-byte aligned float buffer (one cache line, one AVX-512 vector).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  ~AlignedBuffer() { std::free(ptr_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : ptr_(o.ptr_), n_(o.n_) {
    o.ptr_ = nullptr;
    o.n_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(ptr_);
      ptr_ = o.ptr_;
      n_ = o.n_;
      o.ptr_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  // Grows (never shrinks) and zero-fills the whole buffer when it grows.
  void resize(size_t n) {
    if (n <= n_ && ptr_) return;
    // The padded byte count must not wrap: a wrapped size would allocate a few bytes for n floats.
    if (n > (SIZE_MAX - (kAlignBytes - 1)) / sizeof(float)) throw std::bad_alloc();
    std::free(ptr_);
    size_t bytes = padded_floats(n) * sizeof(float);
    if (bytes == 0) bytes = kAlignBytes;
    ptr_ = static_cast<float*>(std::aligned_alloc(kAlignBytes, bytes));
    if (!ptr_) throw std::bad_alloc();
    std::memset(ptr_, 0, bytes);
    n_ = n;
  }
  void zero() {
    if (ptr_) std::memset(ptr_, 0, n_ * sizeof(float));
  }
  float* data() { return ptr_; }
  const float* data() const { return ptr_; }
  size_t size() const { return n_; }

 private:
  float* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace fastnet

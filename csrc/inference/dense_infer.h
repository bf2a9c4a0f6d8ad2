// Inference products with the epilogue fused: Y (M × N) = act(X (M × K) · W ⊙ scale + shift).
//
// fp32: W is the layer's own weight in the arena, (K, N) row-major, read as it is (no cache
// to go stale when the weights change). The AVX-512 kernel (dense_infer_avx512.cpp) keeps a
// tile of Y in registers for the whole K loop and applies the epilogue before the one store;
// dense_infer_reference is the plain path beside it (sgemm, then one epilogue pass), used on
// CPUs without AVX-512 and by the tests as the reference.
//
// bf16 (opt-in, an inference copy of the model): W rounded to bfloat16 (round to nearest
// even) and packed in column panels of bf16 pairs for AVX512_BF16's vdpbf16ps, which
// multiplies pairs of bf16 and accumulates in fp32; the input rows are rounded to bf16 the
// same way. Without the instruction the same packed weights run through an exact fallback
// (bf16 values widened to fp32, the same products, fp32 accumulation in the same order).
#pragma once
#include <cstdint>
#include <vector>

#include "inference/epilogue.h"

namespace fastnet {

void dense_infer(const float* X, const float* W, float* Y, int64_t M, int64_t K, int64_t N,
                 const Epilogue& e);
void dense_infer_reference(const float* X, const float* W, float* Y, int64_t M, int64_t K,
                           int64_t N, const Epilogue& e);

// float32 → bfloat16 bits, round to nearest even (NaN stays NaN).
uint16_t bf16_round(float x);
inline float bf16_value(uint16_t h) {
  union {
    uint32_t u;
    float f;
  } v{static_cast<uint32_t>(h) << 16};
  return v.f;
}

// W (K, N) as bf16 pairs in column panels: panel j holds columns [48j, 48j + w) for every
// pair of rows p = k/2, as kp rows of `width` 32-bit words (width = w rounded up to 16; the
// padding is zero), low half row 2p, high half row 2p + 1 (zero past K).
struct PackedBf16 {
  static constexpr int64_t kPanel = 48;
  int64_t K = 0, N = 0, kp = 0;
  std::vector<uint32_t> words;
  std::vector<int64_t> panel_offset;  // first word of each panel
  int64_t panel_width(int64_t j) const;
  size_t bytes() const { return words.size() * sizeof(uint32_t); }
};
PackedBf16 pack_bf16(const float* W, int64_t K, int64_t N);
// The bf16 weight as float32 (K, N): what the packed copy holds, for tests and export.
std::vector<float> unpack_bf16(const PackedBf16& P);

void dense_infer_bf16(const float* X, const PackedBf16& W, float* Y, int64_t M, const Epilogue& e);

// Kernels (dense_infer_avx512.cpp, dense_infer_bf16.cpp): one task = rows [m0, m1) and
// columns [n0, n1) of Y, the epilogue included.
void dense_task_avx512(const float* X, const float* W, float* Y, int64_t K, int64_t N, int64_t m0,
                       int64_t m1, int64_t n0, int64_t n1, const Epilogue& e);
void bf16_task_avx512(const uint32_t* Xp, const PackedBf16& W, float* Y, int64_t m0, int64_t m1,
                      int64_t j0, int64_t j1, const Epilogue& e);
void bf16_task_generic(const uint32_t* Xp, const PackedBf16& W, float* Y, int64_t m0, int64_t m1,
                       int64_t j0, int64_t j1, const Epilogue& e);

}  // namespace fastnet

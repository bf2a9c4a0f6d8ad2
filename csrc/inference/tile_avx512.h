// Register tiles shared by the fp32 and bf16 AVX-512 kernels: MR rows × NV vectors of 16
// columns accumulate in registers; the epilogue (scale, shift, piecewise-linear activation)
// runs on the registers before the one store.
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstdint>

#include "inference/epilogue.h"

#define FASTNET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define FASTNET_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

namespace fastnet {

// The epilogue of one tile, its pointers already offset to the tile's first column.
struct TileEpilogue {
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* slope = nullptr;
  RegisterAct mode = RegisterAct::None;
  float alpha = 0.0f;
};

// The epilogue's per-column vectors for columns [16v, 16v + 16) of a tile.
struct EpilogueVectors {
  __m512 scale, shift, alpha;
};

FASTNET_AVX512 __attribute__((always_inline)) inline EpilogueVectors epilogue_vectors(
    const TileEpilogue& ep, int v, __mmask16 m) {
  EpilogueVectors e;
  e.scale = ep.scale ? _mm512_maskz_loadu_ps(m, ep.scale + 16 * v) : _mm512_set1_ps(1.0f);
  e.shift = ep.shift ? _mm512_maskz_loadu_ps(m, ep.shift + 16 * v) : _mm512_setzero_ps();
  e.alpha = ep.mode == RegisterAct::PerColumn ? _mm512_maskz_loadu_ps(m, ep.slope + 16 * v)
                                              : _mm512_set1_ps(ep.alpha);
  return e;
}

// act(x·scale + shift) for the piecewise-linear activations.
FASTNET_AVX512 __attribute__((always_inline)) inline __m512 epilogue_apply_vec(
    __m512 x, const EpilogueVectors& e, RegisterAct mode) {
  x = _mm512_fmadd_ps(x, e.scale, e.shift);
  if (mode == RegisterAct::ReLU) return _mm512_mask_max_ps(x, 0xFFFF, x, _mm512_setzero_ps());
  if (mode == RegisterAct::None) return x;
  const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_mask_blend_ps(pos, _mm512_mul_ps(x, e.alpha), x);  // x > 0 ? x : a·x
}

inline __mmask16 tail_mask(int64_t width) {
  const int64_t rem = width % 16;
  return rem ? static_cast<__mmask16>((1u << rem) - 1) : static_cast<__mmask16>(0xFFFF);
}

}  // namespace fastnet
#endif

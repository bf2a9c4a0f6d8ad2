// The bf16 inference kernels over PackedBf16 (dense_infer.h): AVX512_BF16's vdpbf16ps, and
// the exact fallback for CPUs without it.
//
// vdpbf16ps (Intel SDM, VDPBF16PS): for each fp32 lane i,
//   acc += bf16[2i+1]·bf16'[2i+1], then acc += bf16[2i]·bf16'[2i]
// each product exact in fp32 (8-bit × 8-bit significands), each sum rounded to nearest even.
// The fallback does the same two fused multiply-adds per pair in the same order, so it gives
// the same bits apart from denormals (the instruction flushes them; every kernel here runs
// with flush-to-zero and denormals-are-zero set: core/parallel.h FlushDenormals).
#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "inference/dense_infer.h"
#include "inference/tile_avx512.h"

namespace fastnet {

namespace {

// Scalar epilogue of one row's columns [c0, c0 + w) (fallback path).
void store_row(const float* acc, float* y, int64_t c0, int64_t w, const Epilogue& e) {
  for (int64_t c = 0; c < w; ++c) {
    float v = acc[c];
    if (e.scale) v *= e.scale[c0 + c];
    if (e.shift) v += e.shift[c0 + c];
    y[c0 + c] = v;
  }
}

}  // namespace

void bf16_task_generic(const uint32_t* Xp, const PackedBf16& W, float* Y, int64_t m0, int64_t m1,
                       int64_t j0, int64_t j1, const Epilogue& e) {
  float acc[PackedBf16::kPanel];
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t width = W.panel_width(j), c0 = j * PackedBf16::kPanel;
    const int64_t w = std::min(PackedBf16::kPanel, W.N - c0);
    const uint32_t* panel = W.words.data() + W.panel_offset[j];
    for (int64_t m = m0; m < m1; ++m) {
      const uint32_t* x = Xp + m * W.kp;
      std::fill(acc, acc + w, 0.0f);
      for (int64_t p = 0; p < W.kp; ++p) {
        const float xlo = bf16_value(static_cast<uint16_t>(x[p]));
        const float xhi = bf16_value(static_cast<uint16_t>(x[p] >> 16));
        const uint32_t* row = panel + p * width;
        for (int64_t c = 0; c < w; ++c) {
          acc[c] = std::fma(xhi, bf16_value(static_cast<uint16_t>(row[c] >> 16)), acc[c]);
          acc[c] = std::fma(xlo, bf16_value(static_cast<uint16_t>(row[c])), acc[c]);
        }
      }
      store_row(acc, Y + m * W.N, c0, w, e);
    }
  }
  const int64_t c0 = j0 * PackedBf16::kPanel;
  const int64_t c1 = std::min(W.N, j1 * PackedBf16::kPanel);
  epilogue_activation(e, Y + m0 * W.N, m1 - m0, W.N, c0, c1);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

namespace {

// C (MR × 16·NV) = A (MR pairs-rows, lda words) · B (kp × 16·NV words), epilogue on store.
template <int MR, int NV>
FASTNET_AVX512_BF16 void tile_bf16(const uint32_t* A, int64_t lda, const uint32_t* B, int64_t ldb,
                                   float* C, int64_t ldc, int64_t kp, __mmask16 last,
                                   const TileEpilogue* ep) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const uint32_t* b = B + p * ldb;
    __m512i bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + 16 * v);  // panels are padded
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512i a = _mm512_set1_epi32(static_cast<int>(A[r * lda + p]));
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)a, (__m512bh)bv[v]);
    }
  }
// Kept in this function (no helper taking the array): GCC keeps acc in registers only
// while it is never passed by reference.
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
    if (!ep) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m, acc[r][v]);
      continue;
    }
    const EpilogueVectors e = epilogue_vectors(*ep, v, m);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
      _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m, epilogue_apply_vec(acc[r][v], e, ep->mode));
  }
}

using Bf16TileFn = void (*)(const uint32_t*, int64_t, const uint32_t*, int64_t, float*, int64_t,
                            int64_t, __mmask16, const TileEpilogue*);

template <int MR, int... NVs>
constexpr auto bf16_table(std::integer_sequence<int, NVs...>) {
  return std::array<Bf16TileFn, sizeof...(NVs)>{&tile_bf16<MR, NVs + 1>...};
}

template <int... MRs>
constexpr auto bf16_tables(std::integer_sequence<int, MRs...>) {
  return std::array<std::array<Bf16TileFn, 3>, sizeof...(MRs)>{
      bf16_table<MRs + 1>(std::make_integer_sequence<int, 3>{})...};
}

}  // namespace

void bf16_task_avx512(const uint32_t* Xp, const PackedBf16& W, float* Y, int64_t m0, int64_t m1,
                      int64_t j0, int64_t j1, const Epilogue& e) {
  static const auto tiles = bf16_tables(std::make_integer_sequence<int, 8>{});
  RegisterAct mode = RegisterAct::None;
  float alpha = 0.0f;
  const bool in_register = register_act(e, &mode, &alpha);
  if (!in_register) mode = RegisterAct::None;
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t width = W.panel_width(j), c0 = j * PackedBf16::kPanel;
    const int64_t w = std::min(PackedBf16::kPanel, W.N - c0);
    const uint32_t* panel = W.words.data() + W.panel_offset[j];
    TileEpilogue ep;
    ep.scale = e.scale ? e.scale + c0 : nullptr;
    ep.shift = e.shift ? e.shift + c0 : nullptr;
    ep.slope = e.ap.slope ? e.ap.slope + c0 : nullptr;
    ep.mode = mode;
    ep.alpha = alpha;
    const int nv = static_cast<int>(width / 16);
    for (int64_t m = m0; m < m1; m += 8) {
      const int mr = static_cast<int>(std::min<int64_t>(8, m1 - m));
      tiles[mr - 1][nv - 1](Xp + m * W.kp, W.kp, panel, width, Y + m * W.N + c0, W.N, W.kp,
                            tail_mask(w), &ep);
    }
  }
  if (!in_register) {
    const int64_t c0 = j0 * PackedBf16::kPanel;
    const int64_t c1 = std::min(W.N, j1 * PackedBf16::kPanel);
    epilogue_activation(e, Y + m0 * W.N, m1 - m0, W.N, c0, c1);
  }
}

#else

void bf16_task_avx512(const uint32_t* Xp, const PackedBf16& W, float* Y, int64_t m0, int64_t m1,
                      int64_t j0, int64_t j1, const Epilogue& e) {
  bf16_task_generic(Xp, W, Y, m0, m1, j0, j1, e);
}

#endif

}  // namespace fastnet

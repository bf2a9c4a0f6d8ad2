// The fp32 AVX-512 inference kernel: register tiles over the weight as it lies in the arena.
//
// A few rows (M ≤ 8: batch-1 serving) read W straight from the arena, one tile of up to 256
// columns per pass, prefetching ahead: the product is bound by streaming W from cache.
// More rows copy each 128 × 48 block of W into a small buffer first (GotoBLAS's packing,
// Goto & van de Geijn 2008): the arena's rows are 2 KB apart for 512 columns, so a block read
// in place maps onto a handful of L1 sets and evicts itself; packed, it stays in L1 while
// every 8-row tile of X passes over it.
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "core/arena.h"
#include "inference/dense_infer.h"
#include "inference/tile_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

namespace fastnet {

namespace {

constexpr int kPackMR = 8, kPackNV = 3;  // 8 × 48 tile: 24 accumulators, 3 loads of W per k
constexpr int64_t kPackNR = 16 * kPackNV;
constexpr int64_t kPackKC = 128;  // 128 × 48 floats = 24 KB of W per packed block
constexpr int kPrefetchRows = 8;

// C (MR × 16·NV, masked last vector) (+)= A (MR × K, lda) · B (K × 16·NV, ldb); the
// epilogue when ep. Prefetch: W rows ahead when B is read in place.
template <int MR, int NV, bool PREFETCH>
FASTNET_AVX512 void tile_fp32(const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                              int64_t ldc, int64_t K, __mmask16 last, bool accumulate,
                              const TileEpilogue* ep) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      acc[r][v] = accumulate
                      ? _mm512_maskz_loadu_ps(v == NV - 1 ? last : 0xFFFF, C + r * ldc + 16 * v)
                      : _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    if (PREFETCH) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; v += (NV > 4 ? 2 : 1))
        _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchRows * ldb + 16 * v), _MM_HINT_T0);
    }
    __m512 bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, bv[v], acc[r][v]);
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

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t,
                        __mmask16, bool, const TileEpilogue*);

// tile_fp32 for a run-time (MR, NV): MR 1..8; NV up to 16 for one row, 4 for up to 4 rows,
// 3 beyond (the accumulators and the W vectors must fit the 32 registers).
template <int MR, bool PF, int... NVs>
constexpr auto nv_table(std::integer_sequence<int, NVs...>) {
  return std::array<TileFn, sizeof...(NVs)>{&tile_fp32<MR, NVs + 1, PF>...};
}

template <bool PF>
TileFn tile_for(int mr, int nv) {
  static const auto t1 = nv_table<1, PF>(std::make_integer_sequence<int, 16>{});
  static const auto t2 = nv_table<2, PF>(std::make_integer_sequence<int, 4>{});
  static const auto t3 = nv_table<3, PF>(std::make_integer_sequence<int, 4>{});
  static const auto t4 = nv_table<4, PF>(std::make_integer_sequence<int, 4>{});
  static const auto t5 = nv_table<5, PF>(std::make_integer_sequence<int, 3>{});
  static const auto t6 = nv_table<6, PF>(std::make_integer_sequence<int, 3>{});
  static const auto t7 = nv_table<7, PF>(std::make_integer_sequence<int, 3>{});
  static const auto t8 = nv_table<8, PF>(std::make_integer_sequence<int, 3>{});
  switch (mr) {
    case 1:
      return t1[nv - 1];
    case 2:
      return t2[nv - 1];
    case 3:
      return t3[nv - 1];
    case 4:
      return t4[nv - 1];
    case 5:
      return t5[nv - 1];
    case 6:
      return t6[nv - 1];
    case 7:
      return t7[nv - 1];
    default:
      return t8[nv - 1];
  }
}

// The widest tile (in vectors) for mr rows read in place.
int direct_nv(int mr) { return mr == 1 ? 16 : (mr <= 4 ? 4 : 3); }

TileEpilogue tile_epilogue(const Epilogue& e, RegisterAct mode, float alpha, int64_t n) {
  TileEpilogue t;
  t.scale = e.scale ? e.scale + n : nullptr;
  t.shift = e.shift ? e.shift + n : nullptr;
  t.slope = e.ap.slope ? e.ap.slope + n : nullptr;
  t.mode = mode;
  t.alpha = alpha;
  return t;
}

}  // namespace

void dense_task_avx512(const float* X, const float* W, float* Y, int64_t K, int64_t N, int64_t m0,
                       int64_t m1, int64_t n0, int64_t n1, const Epilogue& e) {
  RegisterAct mode = RegisterAct::None;
  float alpha = 0.0f;
  const bool in_register = register_act(e, &mode, &alpha);
  if (!in_register) mode = RegisterAct::None;  // scale and shift here, the activation after
  const int64_t rows = m1 - m0;
  if (rows <= kPackMR) {
    const int mr = static_cast<int>(rows);
    const int64_t nr = 16 * direct_nv(mr);
    for (int64_t n = n0; n < n1; n += nr) {
      const int64_t w = std::min(nr, n1 - n);
      const TileEpilogue ep = tile_epilogue(e, mode, alpha, n);
      tile_for<true>(mr, static_cast<int>((w + 15) / 16))(X + m0 * K, K, W + n, N, Y + m0 * N + n,
                                                          N, K, tail_mask(w), false, &ep);
    }
  } else {
    thread_local AlignedBuffer packed;
    packed.resize(static_cast<size_t>(kPackKC * kPackNR));
    float* buf = packed.data();
    for (int64_t n = n0; n < n1; n += kPackNR) {
      const int64_t w = std::min(kPackNR, n1 - n);
      const int nv = static_cast<int>((w + 15) / 16);
      const TileEpilogue ep = tile_epilogue(e, mode, alpha, n);
      for (int64_t k0 = 0; k0 < K; k0 += kPackKC) {
        const int64_t kc = std::min(kPackKC, K - k0);
        for (int64_t k = 0; k < kc; ++k)
          std::memcpy(buf + k * kPackNR, W + (k0 + k) * N + n, sizeof(float) * w);
        const bool last_block = k0 + kc == K;
        for (int64_t m = m0; m < m1; m += kPackMR) {
          const int mr = static_cast<int>(std::min<int64_t>(kPackMR, m1 - m));
          tile_for<false>(mr, nv)(X + m * K + k0, K, buf, kPackNR, Y + m * N + n, N, kc,
                                  tail_mask(w), k0 > 0, last_block ? &ep : nullptr);
        }
      }
    }
  }
  if (!in_register) epilogue_activation(e, Y + m0 * N, rows, N, n0, n1);
}

}  // namespace fastnet

#else

namespace fastnet {
void dense_task_avx512(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, const Epilogue&) {}
}  // namespace fastnet

#endif

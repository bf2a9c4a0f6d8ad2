#include "inference/dense_infer.h"

#include <algorithm>
#include <cstring>

#include "core/blas.h"
#include "core/cpu.h"
#include "core/parallel.h"

namespace fastnet {

namespace {

// How one product is shared by the pool: `parts` ranges of columns (in 16-column units) or,
// for a row-wise activation (softmax needs whole rows) or a narrow output, of rows (in 8-row
// units). Each element's K loop runs whole inside one range, so the bits do not depend on the
// split. Same thresholds as the training GEMMs (core/blas.h): a batch-1 product of a large
// weight is split too, so that every core streams its own share of W.
struct Split {
  int parts = 1;
  bool by_rows = false;
  int64_t units = 1;
};

Split split_for(int64_t M, int64_t N, int64_t K, bool rowwise) {
  Split s;
  const int threads = max_threads();
  if (threads <= 1 || in_parallel()) return s;
  const double macs = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const bool stream =
      M <= kStreamRowsMax && static_cast<double>(N) * static_cast<double>(K) >= kStreamFloatsMin;
  if (macs < kSplitMacs && !stream) return s;
  s.by_rows = rowwise || N < 32 * threads;
  s.units = s.by_rows ? (M + 7) / 8 : (N + 15) / 16;
  s.parts = static_cast<int>(std::min<int64_t>(threads, s.units));
  return s;
}

template <class Task>
void run_split(const Split& s, int64_t M, int64_t N, Task&& task) {
  if (s.parts <= 1) {
    FlushDenormals ftz;
    task(int64_t{0}, M, int64_t{0}, N);
    return;
  }
  for_each_range_on(s.units, s.parts, [&](int, int64_t b, int64_t e) {
    FlushDenormals ftz;
    if (s.by_rows)
      task(std::min(M, b * 8), std::min(M, e * 8), int64_t{0}, N);
    else
      task(int64_t{0}, M, std::min(N, b * 16), std::min(N, e * 16));
  });
}

}  // namespace

void dense_infer_reference(const float* X, const float* W, float* Y, int64_t M, int64_t K,
                           int64_t N, const Epilogue& e) {
  sgemm(false, false, M, N, K, 1.0f, X, K, W, N, 0.0f, Y, N);
  epilogue_apply(e, Y, M, N, 0, N);
}

void dense_infer(const float* X, const float* W, float* Y, int64_t M, int64_t K, int64_t N,
                 const Epilogue& e) {
  if (!use_avx512()) return dense_infer_reference(X, W, Y, M, K, N, e);
  const Split s = split_for(M, N, K, e.act == ActKind::Softmax);
  run_split(s, M, N, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    if (m1 > m0 && n1 > n0) dense_task_avx512(X, W, Y, K, N, m0, m1, n0, n1, e);
  });
}

// ----- bf16 -----

uint16_t bf16_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu))  // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  // Round to nearest, ties to even, on the 16 bits dropped (what vcvtneps2bf16 does).
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

int64_t PackedBf16::panel_width(int64_t j) const {
  const int64_t w = std::min(kPanel, N - j * kPanel);
  return (w + 15) / 16 * 16;
}

PackedBf16 pack_bf16(const float* W, int64_t K, int64_t N) {
  PackedBf16 P;
  P.K = K;
  P.N = N;
  P.kp = (K + 1) / 2;
  const int64_t panels = (N + PackedBf16::kPanel - 1) / PackedBf16::kPanel;
  int64_t total = 0;
  for (int64_t j = 0; j < panels; ++j) {
    P.panel_offset.push_back(total);
    total += P.kp * P.panel_width(j);
  }
  P.words.assign(static_cast<size_t>(total), 0u);
  for (int64_t j = 0; j < panels; ++j) {
    const int64_t width = P.panel_width(j), c0 = j * PackedBf16::kPanel;
    const int64_t w = std::min(PackedBf16::kPanel, N - c0);
    uint32_t* panel = P.words.data() + P.panel_offset[j];
    for (int64_t p = 0; p < P.kp; ++p) {
      const float* lo = W + (2 * p) * N + c0;
      const float* hi = 2 * p + 1 < K ? W + (2 * p + 1) * N + c0 : nullptr;
      for (int64_t c = 0; c < w; ++c)
        panel[p * width + c] = static_cast<uint32_t>(bf16_round(lo[c])) |
                               (hi ? static_cast<uint32_t>(bf16_round(hi[c])) << 16 : 0u);
    }
  }
  return P;
}

std::vector<float> unpack_bf16(const PackedBf16& P) {
  std::vector<float> W(static_cast<size_t>(P.K * P.N));
  for (size_t j = 0; j < P.panel_offset.size(); ++j) {
    const int64_t width = P.panel_width(static_cast<int64_t>(j));
    const int64_t c0 = static_cast<int64_t>(j) * PackedBf16::kPanel;
    const int64_t w = std::min(PackedBf16::kPanel, P.N - c0);
    const uint32_t* panel = P.words.data() + P.panel_offset[j];
    for (int64_t k = 0; k < P.K; ++k)
      for (int64_t c = 0; c < w; ++c) {
        const uint32_t word = panel[(k / 2) * width + c];
        W[k * P.N + c0 + c] = bf16_value(static_cast<uint16_t>(k % 2 ? word >> 16 : word));
      }
  }
  return W;
}

void dense_infer_bf16(const float* X, const PackedBf16& W, float* Y, int64_t M, const Epilogue& e) {
  // The input rows as bf16 pairs (rounded as the weights were), one word per pair of columns.
  std::vector<uint32_t> Xp(static_cast<size_t>(M * W.kp));
  for (int64_t m = 0; m < M; ++m) {
    const float* x = X + m * W.K;
    uint32_t* xp = Xp.data() + m * W.kp;
    for (int64_t p = 0; p < W.kp; ++p)
      xp[p] = static_cast<uint32_t>(bf16_round(x[2 * p])) |
              (2 * p + 1 < W.K ? static_cast<uint32_t>(bf16_round(x[2 * p + 1])) << 16 : 0u);
  }
  const int64_t panels = static_cast<int64_t>(W.panel_offset.size());
  Split s = split_for(M, W.N, W.K, e.act == ActKind::Softmax);
  if (!s.by_rows) {  // column ranges are whole panels here
    s.units = panels;
    s.parts = static_cast<int>(std::min<int64_t>(s.parts, panels));
  }
  const bool fast = use_avx512_bf16();
  if (s.parts <= 1) {
    s.by_rows = false;
    s.units = panels;
  }
  for_each_range_on(s.units, s.parts, [&](int, int64_t b, int64_t end) {
    FlushDenormals ftz;
    int64_t m0 = 0, m1 = M, j0 = 0, j1 = panels;
    if (s.by_rows) {
      m0 = std::min(M, b * 8);
      m1 = std::min(M, end * 8);
    } else {
      j0 = b;
      j1 = end;
    }
    if (m1 <= m0 || j1 <= j0) return;
    if (fast)
      bf16_task_avx512(Xp.data(), W, Y, m0, m1, j0, j1, e);
    else
      bf16_task_generic(Xp.data(), W, Y, m0, m1, j0, j1, e);
  });
}

}  // namespace fastnet

#include "inference/epilogue.h"

namespace fastnet {

void epilogue_activation(const Epilogue& e, float* Y, int64_t rows, int64_t ld, int64_t c0,
                         int64_t c1) {
  if (e.act == ActKind::None) return;
  ActParams ap = e.ap;
  if (ap.slope) ap.slope += c0;  // PReLU's slope is indexed by the column within the range
  for (int64_t r = 0; r < rows; ++r) {
    float* y = Y + r * ld + c0;
    activation_forward(e.act, ap, y, nullptr, y, 1, c1 - c0, /*training=*/false);
  }
}

void epilogue_apply(const Epilogue& e, float* Y, int64_t rows, int64_t ld, int64_t c0, int64_t c1) {
  if (e.scale || e.shift) {
    for (int64_t r = 0; r < rows; ++r) {
      float* __restrict__ y = Y + r * ld;
      const float* __restrict__ s = e.scale;
      const float* __restrict__ t = e.shift;
      if (s && t) {
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) y[c] = y[c] * s[c] + t[c];
      } else if (s) {
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) y[c] *= s[c];
      } else {
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) y[c] += t[c];
      }
    }
  }
  epilogue_activation(e, Y, rows, ld, c0, c1);
}

}  // namespace fastnet

#include "core/validate.h"

#include <algorithm>
#include <cstring>

namespace fastnet {

bool all_finite(const float* x, int64_t n) {
  // max over |x| as bits: finite floats have |bits| < 0x7f800000 (the +Inf pattern).
  uint32_t worst = 0;
#pragma omp simd reduction(max : worst)
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    u &= 0x7fffffffu;
    worst = u > worst ? u : worst;
  }
  return worst < 0x7f800000u;
}

template <class T>
void label_range(const T* y, int64_t n, int64_t& lo, int64_t& hi) {
  T a = n ? y[0] : T{0}, b = a;
#pragma omp simd reduction(min : a) reduction(max : b)
  for (int64_t i = 0; i < n; ++i) {
    a = y[i] < a ? y[i] : a;
    b = y[i] > b ? y[i] : b;
  }
  lo = static_cast<int64_t>(a);
  hi = static_cast<int64_t>(b);
}
template void label_range<int32_t>(const int32_t*, int64_t, int64_t&, int64_t&);
template void label_range<int64_t>(const int64_t*, int64_t, int64_t&, int64_t&);

void narrow_labels(const int64_t* y, int32_t* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(y[i]);
}

}  // namespace fastnet

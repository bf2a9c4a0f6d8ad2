// Input scans that the Python entry points run before a step (fastnet/_validate.py): one
// vectorized pass each, instead of two NumPy reductions and a temporary per call.
#pragma once
#include <cstdint>

namespace fastnet {

// True when no element is NaN or ±Inf (IEEE 754: the exponent bits are all ones exactly then).
bool all_finite(const float* x, int64_t n);

// Smallest and largest label, and the labels narrowed to int32 when out is not null
// (values outside int32 are caught by the range the caller checks against lo/hi first).
template <class T>
void label_range(const T* y, int64_t n, int64_t& lo, int64_t& hi);
void narrow_labels(const int64_t* y, int32_t* out, int64_t n);

}  // namespace fastnet

// Branch-free float32 exp, expm1, sigmoid and tanh that GCC vectorizes inside `#pragma omp simd`
// loops (libm's std::exp / std::tanh are scalar calls without -ffast-math). Every function is
// straight-line code with selects; no table, no errno.
//
// exp: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, ln2 split in two constants, and
// the degree-6 minimax polynomial of Cephes expf.c (S. L. Moshier, Cephes Math Library 2.2,
// 1992). 2^n is built from exponent bits in two factors, so results down to the smallest
// denormal round once, like std::exp: above 88.72 +inf, below −103.97 +0, NaN stays NaN.
// Max error about 1 ulp (tests/test_fast_math.py bounds it over [−90, 90]).
//
// tanh: Cephes tanhf.c, the odd minimax polynomial for |x| < 0.625 and 1 − 2/(e^{2|x|} + 1)
// with the sign above it (no cancellation near 0).
//
// expm1: Taylor polynomial to degree 8 for |x| < 0.5 (truncation < 2e-8 relative), e^x − 1
// beyond (its cancellation costs at most ~2.5 ulp there), chosen by a select.
#pragma once
#include <cstdint>
#include <cstring>

namespace fastnet {
namespace fast {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Selects written as expressions (GCC turns them into vector blends).
inline float clamp_keep_nan(float x, float lo, float hi) {
  x = x < lo ? lo : x;  // NaN compares false: it passes through both
  return x > hi ? hi : x;
}

inline float exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // Cephes C1: 8 significant bits, n·C1 is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  // Cephes expf.c's coefficients of (e^r − 1 − r)/r² on [−ln2/2, ln2/2].
  constexpr float p0 = 1.9875691500e-4f, p1 = 1.3981999507e-3f, p2 = 8.3334519073e-3f,
                  p3 = 4.1665795894e-2f, p4 = 1.6666665459e-1f, p5 = 5.0000001201e-1f;
  // Past these ends std::exp is already inf / 0; clamping keeps n in the two-factor range.
  const float xc = clamp_keep_nan(x, -104.0f, 89.0f);
  const float t = xc * kLog2e + kRound;
  const float n = t - kRound;
  // n as an int from t's low mantissa bits (|n| ≤ 151 < 2^22), no float→int conversion.
  const int32_t ni = static_cast<int32_t>(float_to_bits(t) - float_to_bits(kRound));
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  const float r2 = r * r;
  float p = p0;
  p = p * r + p1;
  p = p * r + p2;
  p = p * r + p3;
  p = p * r + p4;
  p = p * r + p5;
  p = p * r2 + r + 1.0f;
  // 2^n = 2^h · 2^(n−h), h = n/2: both factors are normal for n in [−151, 129], and p·2^h is
  // exact, so the second product rounds once (denormal results included).
  const int32_t h = ni / 2;
  const float s1 = bits_to_float(static_cast<uint32_t>(h + 127) << 23);
  const float s2 = bits_to_float(static_cast<uint32_t>(ni - h + 127) << 23);
  return p * s1 * s2;
}

// e^x − 1, accurate near 0.
inline float expm1(float x) {
  // Taylor coefficients 1/k! (Abramowitz & Stegun 4.2.1), k = 2..8.
  constexpr float c2 = 0.5f, c3 = 1.0f / 6, c4 = 1.0f / 24, c5 = 1.0f / 120, c6 = 1.0f / 720,
                  c7 = 1.0f / 5040, c8 = 1.0f / 40320;
  float q = c8;
  q = q * x + c7;
  q = q * x + c6;
  q = q * x + c5;
  q = q * x + c4;
  q = q * x + c3;
  q = q * x + c2;
  const float small = (q * x) * x + x;
  const float large = fast::exp(x) - 1.0f;
  const float ax = x < 0.0f ? -x : x;
  return ax < 0.5f ? small : large;
}

// 1/(1 + e^−x) in the stable form: with e = e^−|x|, 1/(1 + e) for x ≥ 0 and e/(1 + e) below,
// so no e^{+large} and a full relative accuracy for negative x.
inline float sigmoid(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float e = fast::exp(-ax);
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

inline float tanh(float x) {
  // Cephes tanhf.c: tanh(x) = x + x·s·P(s), s = x², for |x| < 0.625.
  constexpr float t0 = -5.70498872745e-3f, t1 = 2.06390887954e-2f, t2 = -5.37397155531e-2f,
                  t3 = 1.33314422036e-1f, t4 = -3.33332819422e-1f;
  const float ax = x < 0.0f ? -x : x;
  const float s = x * x;
  float p = t0;
  p = p * s + t1;
  p = p * s + t2;
  p = p * s + t3;
  p = p * s + t4;
  const float small = p * s * x + x;
  // e^{2|x|} = inf for |x| > 44: 2/inf = 0 gives exactly 1.
  const float large = 1.0f - 2.0f / (fast::exp(2.0f * ax) + 1.0f);
  const float signed_large = x < 0.0f ? -large : large;
  return ax < 0.625f ? small : signed_large;
}

// tanh(softplus(x)) = tanh(log(1 + e^x)) = u/(u + 2), u = e^x(e^x + 2), without a log.
// x is capped at 20, where the quotient is 1 in float32 (and e^x stays finite).
// Also returns 1 − tanh(softplus(x)) = 2/(u + 2) without its cancellation (Mish's derivative).
inline float tanh_softplus(float x, float* one_minus) {
  const float e = fast::exp(x < 20.0f ? x : 20.0f);
  const float u = e * (e + 2.0f);
  const float inv = 1.0f / (u + 2.0f);
  *one_minus = 2.0f * inv;
  return u * inv;
}

}  // namespace fast
}  // namespace fastnet

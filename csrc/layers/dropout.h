// Dropout layers. Masks come from the counter-based RNG (rng.h) keyed by (model seed, layer
// index, step) with the element index as counter, so a mask is reproducible for a seed and
// identical for any thread count; forward keeps it as one byte per element for backward.
// The plain reference is the NumPy re-implementation in tests/test_dropout.py.
#pragma once
#include <cstdint>

namespace fastnet {

// Element i is kept when rng_uniform(key, counter0 + i) >= rate; keep_mask[i] records it (0 or
// 1). counter0 is 0 in training; MC dropout passes the chunk's first element.
// Inverted dropout (Srivastava et al. 2014): Y = keep ? X/(1 − rate) : 0.
// Alpha dropout (Klambauer et al. 2017, torch.nn.AlphaDropout): with α' = −λα,
// a = ((1 − p)(1 + p·α'²))^(−1/2), b = −a·α'·p: Y = keep ? a·X + b : a·α' + b.
void dropout_forward(const float* X, float* Y, uint8_t* keep_mask, int64_t n, float rate,
                     bool alpha, uint64_t key, uint64_t counter0 = 0);
// dX = keep ? dY·scale : 0, scale = 1/(1 − rate) (inverted) or a (alpha), with the forward's
// keep_mask.
void dropout_backward(const float* dY, float* dX, const uint8_t* keep_mask, int64_t n, float rate,
                      bool alpha);

}  // namespace fastnet

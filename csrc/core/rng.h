// Counter-based random numbers: the value for element i of stream s under seed k is a pure
// function of (k, s, i), so masks are reproducible for a seed and identical for any thread
// count or loop order. The mixer is SplitMix64 (Steele, Lea & Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014).
#pragma once
#include <cstdint>

namespace fastnet {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Key for one (seed, stream): streams are e.g. (layer index, training step).
inline uint64_t rng_key(uint64_t seed, uint64_t stream) {
  return splitmix64(seed ^ splitmix64(stream + 0x632BE59BD9B4E019ULL));
}

// The stream of one layer (its index in the model) at one training step.
inline uint64_t layer_rng_key(uint64_t seed, int layer_index, uint64_t step) {
  return rng_key(seed ^ (0x9E37ULL * static_cast<uint64_t>(layer_index + 1)), step);
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float32).
inline float rng_uniform(uint64_t key, uint64_t i) {
  return static_cast<float>(splitmix64(key + i) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace fastnet

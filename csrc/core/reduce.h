// Sums of squares per arena segment, in double: one pass serves the global-norm clip, the
// per-layer clip and the gradient diagnostics.
#pragma once
#include <cstddef>
#include <vector>

namespace fastnet {

struct Segment {
  size_t offset;
  size_t size;
};

// out[i] = Σ x[offset_i + j]² over segment i (double accumulation).
void segment_sumsq(const float* x, const std::vector<Segment>& segs, std::vector<double>& out);

}  // namespace fastnet

#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace fastnet {

namespace {
template <class Op>
void for_each_segment(float* g, const std::vector<Segment>& segs, Op op) {
  for (const Segment& s : segs) {
    float* x = g + s.offset;
    const int64_t n = static_cast<int64_t>(s.size);
    parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) x[i] = op(x[i]);
    });
  }
}
}  // namespace

double clip_grad_norm(float* g, const std::vector<Segment>& segs, double max_norm) {
  std::vector<double> sq;
  segment_sumsq(g, segs, sq);
  double total = 0.0;
  for (double v : sq) total += v;
  const double norm = std::sqrt(total);
  if (!std::isfinite(norm)) return norm;
  // torch.nn.utils.clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1.
  const float scale = static_cast<float>(std::min(1.0, max_norm / (norm + 1e-6)));
  if (scale < 1.0f) for_each_segment(g, segs, [scale](float v) { return v * scale; });
  return norm;
}

void clip_grad_value(float* g, const std::vector<Segment>& segs, float clip) {
  for_each_segment(g, segs, [clip](float v) { return v > clip ? clip : (v < -clip ? -clip : v); });
}

}  // namespace fastnet

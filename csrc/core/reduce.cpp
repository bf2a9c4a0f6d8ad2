#include "core/reduce.h"

#include "core/parallel.h"

namespace fastnet {

namespace {
double sumsq(const float* x, size_t n) {
  // 64 double lanes (eight 8-wide accumulators) per round: independent FMA chains hide the
  // 4-cycle latency that a single vector accumulator waits on; summed in a fixed order.
  constexpr int64_t kLanes = 64;
  double acc[kLanes] = {0.0};
  const int64_t nn = static_cast<int64_t>(n);
  int64_t i = 0;
  for (; i + kLanes <= nn; i += kLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
  }
  double tail = 0.0;
  for (; i < nn; ++i) tail += static_cast<double>(x[i]) * x[i];
  double total = 0.0;
  for (int64_t j = 0; j < kLanes; ++j) total += acc[j];
  return total + tail;
}
}  // namespace

void segment_sumsq(const float* x, const std::vector<Segment>& segs, std::vector<double>& out) {
  out.assign(segs.size(), 0.0);
  size_t total = 0;
  for (auto& s : segs) total += s.size;
  if (static_cast<int64_t>(total) < 4 * kParallelThreshold) {
    for (size_t i = 0; i < segs.size(); ++i) out[i] = sumsq(x + segs[i].offset, segs[i].size);
    return;
  }
  // Split large segments into fixed chunks so both threads share the work; chunk sums are
  // added in a fixed order (deterministic for any thread count).
  constexpr size_t kChunk = 1 << 16;
  struct Piece {
    size_t seg, off, n;
  };
  std::vector<Piece> pieces;
  for (size_t i = 0; i < segs.size(); ++i)
    for (size_t o = 0; o < segs[i].size; o += kChunk)
      pieces.push_back({i, segs[i].offset + o, std::min(kChunk, segs[i].size - o)});
  std::vector<double> partial(pieces.size());
  for_each_index(static_cast<int64_t>(pieces.size()), true,
                 [&](int64_t p) { partial[p] = sumsq(x + pieces[p].off, pieces[p].n); });
  for (size_t p = 0; p < pieces.size(); ++p) out[pieces[p].seg] += partial[p];
}

}  // namespace fastnet

#include "reduce.h"

#include "common.h"

namespace fastnet {

namespace {
double sumsq(const float* x, size_t n) {
  // Eight float lanes summed in double keep the vector units busy without losing precision.
  double acc = 0.0;
  const int64_t nn = static_cast<int64_t>(n);
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < nn; ++i) acc += static_cast<double>(x[i]) * x[i];
  return acc;
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
  struct Piece { size_t seg, off, n; };
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

#include "optim/optimizer.h"

#include <cmath>

#include "core/parallel.h"
#include "engine/model.h"

namespace fastnet {

Optimizer::Optimizer(std::shared_ptr<Model> m, std::vector<ParamSlot> s, ClipMode mode, float value,
                     size_t num_state_arenas, size_t per_slot, double scalar_init)
    : slots(std::move(s)),
      clip_mode(mode),
      clip_value(value),
      scalars_per_slot(per_slot),
      model(std::move(m)) {
  for (auto& slot : slots)
    if (slot.offset > model->arena_floats() || slot.size > model->arena_floats() - slot.offset)
      throw std::invalid_argument("parameter segment outside the model's arena");
  slot_steps.assign(slots.size(), 0);
  slot_state.assign(slots.size() * scalars_per_slot, scalar_init);
  state.resize(num_state_arenas);
  for (auto& b : state) b.resize(std::max(model->arena_floats(), kAlignFloats));
}

namespace {
// Plain sequential Σx² per segment (the reference twin of segment_sumsq).
void sumsq_reference(const float* x, const std::vector<Segment>& segs, std::vector<double>& out) {
  out.assign(segs.size(), 0.0);
  for (size_t k = 0; k < segs.size(); ++k)
    for (size_t i = 0; i < segs[k].size; ++i) {
      const double v = x[segs[k].offset + i];
      out[k] += v * v;
    }
}
}  // namespace

double Optimizer::step(bool reference) {
  FlushDenormals ftz;  // main thread; large segments also set it per worker (kernels)
  float* p = model->params();
  const float* g = model->grads();
  std::vector<Segment> segs;
  std::vector<size_t> idx;
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].trainable()) {
      segs.push_back({slots[i].offset, slots[i].size});
      idx.push_back(i);
    }
  std::vector<double> sq;
  if (reference)
    sumsq_reference(g, segs, sq);
  else
    segment_sumsq(g, segs, sq);
  last_sumsq.assign(slots.size(), 0.0);
  double total = 0.0;
  for (size_t k = 0; k < sq.size(); ++k) {
    last_sumsq[idx[k]] = sq[k];
    total += sq[k];
  }
  const double norm = std::sqrt(total);
  if (!std::isfinite(norm)) {
    ++skipped_steps;
    return norm;
  }
  for (size_t k = 0; k < segs.size(); ++k) {
    const ParamSlot& s = slots[idx[k]];
    float gscale = 1.0f, clip = 0.0f;
    // Scale as torch.nn.utils.clip_grad_norm_: min(1, max_norm / (norm + 1e-6)).
    if (clip_mode == ClipMode::GlobalNorm)
      gscale = static_cast<float>(std::min(1.0, clip_value / (norm + 1e-6)));
    else if (clip_mode == ClipMode::LayerNorm)
      gscale = static_cast<float>(std::min(1.0, clip_value / (std::sqrt(sq[k]) + 1e-6)));
    else if (clip_mode == ClipMode::Value)
      clip = clip_value;
    const int64_t t = ++slot_steps[idx[k]];
    if (reference)
      update_segment_reference(idx[k], s, p + s.offset, g + s.offset, gscale, clip, t);
    else
      update_segment(idx[k], s, p + s.offset, g + s.offset, gscale, clip, t);
  }
  ++steps;
  return norm;
}

}  // namespace fastnet

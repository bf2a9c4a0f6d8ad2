#include "optim/optimizer.h"

#include <cmath>
#include <stdexcept>
#include <unordered_map>

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

std::vector<float> Optimizer::gradient_scales(const std::vector<size_t>& idx,
                                              std::vector<double> sq, double norm) const {
  const size_t n = idx.size();
  // Σ over the slots of each one's layer (ParamSlot::layer; -1: the slot alone), added in slot
  // order so the sums do not depend on anything but the slots.
  auto layer_sums = [&](const std::vector<double>& v) {
    std::unordered_map<int64_t, double> by_layer;
    for (size_t a = 0; a < n; ++a)
      if (slots[idx[a]].layer >= 0) by_layer[slots[idx[a]].layer] += v[a];
    std::vector<double> out(n);
    for (size_t a = 0; a < n; ++a)
      out[a] = slots[idx[a]].layer >= 0 ? by_layer[slots[idx[a]].layer] : v[a];
    return out;
  };
  std::vector<double> scale(n, 1.0);
  if (normalize != NormalizeMode::None) {
    // ĝ = g / max(‖g‖, eps): a zero gradient stays zero (no 0/0).
    const std::vector<double> layer =
        normalize == NormalizeMode::Layer ? layer_sums(sq) : std::vector<double>();
    double total = 0.0;
    for (size_t a = 0; a < n; ++a) {
      const double d = normalize == NormalizeMode::Layer ? std::sqrt(layer[a]) : norm;
      scale[a] = 1.0 / std::max(d, normalize_eps);
      sq[a] *= scale[a] * scale[a];
      total += sq[a];
    }
    norm = std::sqrt(total);  // the clip keywords act on the normalized gradient
  }
  // Each clip scale as torch.nn.utils.clip_grad_norm_: min(1, max_norm / (norm + 1e-6)).
  if (clip_mode == ClipMode::GlobalNorm) {
    for (size_t a = 0; a < n; ++a) scale[a] *= std::min(1.0, clip_value / (norm + 1e-6));
  } else if (clip_mode == ClipMode::TensorNorm) {
    for (size_t a = 0; a < n; ++a)
      scale[a] *= std::min(1.0, clip_value / (std::sqrt(sq[a]) + 1e-6));
  } else if (clip_mode == ClipMode::LayerNorm) {
    const std::vector<double> layer = layer_sums(sq);
    for (size_t a = 0; a < n; ++a)
      scale[a] *= std::min(1.0, clip_value / (std::sqrt(layer[a]) + 1e-6));
  }
  return std::vector<float>(scale.begin(), scale.end());
}

void Optimizer::add_l1(float* g, const float* p, const std::vector<size_t>& idx,
                       bool reference) const {
  // d/dw λ·|w| = λ·sign(w), sign(0) = 0 (as TensorFlow's and torch's abs gradients).
  for (size_t k : idx) {
    const ParamSlot& s = slots[k];
    if (s.l1 == 0.0f) continue;
    const float lam = s.l1;
    if (reference) {
      for (size_t i = 0; i < s.size; ++i) {
        const float w = p[s.offset + i];
        if (w > 0.0f) g[s.offset + i] += lam;
        if (w < 0.0f) g[s.offset + i] -= lam;
      }
      continue;
    }
    parallel_for(
        static_cast<int64_t>(s.size), kParallelThreshold,
        [=](int64_t begin, int64_t end, float* __restrict__ g, const float* __restrict__ p) {
#pragma omp simd
          for (int64_t i = begin; i < end; ++i)
            g[i] += lam * static_cast<float>((p[i] > 0.0f) - (p[i] < 0.0f));
        },
        g + s.offset, p + s.offset);
  }
}

void Optimizer::apply_max_norm(float* p, const std::vector<size_t>& idx, bool reference) const {
  // Keras MaxNorm(max_value, axis=0): w ← w · clip(‖w_:j‖, 0, c) / (1e-7 + ‖w_:j‖) per column
  // j (the incoming weights of output unit j of an (in, out) kernel).
  for (size_t k : idx) {
    const ParamSlot& s = slots[k];
    if (s.max_norm <= 0.0f || s.columns == 0) continue;
    const int64_t cols = static_cast<int64_t>(s.columns);
    const int64_t rows = static_cast<int64_t>(s.size) / cols;
    const double c = s.max_norm;
    float* w = p + s.offset;
    auto factor = [c](double sumsq) {
      const double norm = std::sqrt(sumsq);
      return static_cast<float>(std::min(norm, c) / (1e-7 + norm));
    };
    if (reference) {
      for (int64_t j = 0; j < cols; ++j) {
        double sumsq = 0.0;
        for (int64_t r = 0; r < rows; ++r)
          sumsq += static_cast<double>(w[r * cols + j]) * w[r * cols + j];
        const float f = factor(sumsq);
        for (int64_t r = 0; r < rows; ++r) w[r * cols + j] *= f;
      }
      continue;
    }
    // Column ranges on the pool, rows in order inside each: a row's columns are contiguous,
    // and every column's sum is added in row order whatever the thread count.
    const int threads = max_threads();
    const int parts = static_cast<int64_t>(s.size) >= kParallelThreshold && threads > 1
                          ? static_cast<int>(std::min<int64_t>(cols, 4 * threads))
                          : 1;
    for_each_range_on(cols, parts, [&](int, int64_t begin, int64_t end) {
      FlushDenormals ftz;
      std::vector<double> sumsq(static_cast<size_t>(end - begin), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = w + r * cols + begin;
#pragma omp simd
        for (int64_t j = 0; j < end - begin; ++j) sumsq[j] += static_cast<double>(row[j]) * row[j];
      }
      std::vector<float> f(sumsq.size());
      for (size_t j = 0; j < sumsq.size(); ++j) f[j] = factor(sumsq[j]);
      for (int64_t r = 0; r < rows; ++r) {
        float* row = w + r * cols + begin;
#pragma omp simd
        for (int64_t j = 0; j < end - begin; ++j) row[j] *= f[j];
      }
    });
  }
}

void Optimizer::set_average(AverageMode mode, double decay) {
  average = mode;
  ema_decay = decay;
  averaged_steps = 0;
  average_swapped = false;
  if (mode == AverageMode::None) {
    averaged = AlignedBuffer();
    return;
  }
  averaged.resize(std::max(model->arena_floats(), kAlignFloats));
  const float* p = model->params();
  for (const auto& s : slots)
    std::copy(p + s.offset, p + s.offset + s.size, averaged.data() + s.offset);
}

void Optimizer::swap_average() {
  if (average == AverageMode::None)
    throw std::runtime_error("this optimizer keeps no average (average=None)");
  float* p = model->params();
  for (const auto& s : slots)
    std::swap_ranges(p + s.offset, p + s.offset + s.size, averaged.data() + s.offset);
  average_swapped = !average_swapped;
}

void Optimizer::update_average(const float* p, bool reference) {
  if (average == AverageMode::None) return;
  // torch.optim.swa_utils.AveragedModel.update_parameters: the first update copies, then
  // torch._foreach_lerp_(avg, p, w) with w = 1 − decay (EMA) or 1 / (n + 1) (the mean of the
  // n + 1 iterates so far). Every slot is averaged, frozen ones included, as AveragedModel
  // averages every parameter.
  const bool copy = ++averaged_steps == 1;
  const float w = average == AverageMode::EMA
                      ? static_cast<float>(1.0 - ema_decay)
                      : static_cast<float>(1.0 / static_cast<double>(averaged_steps));
  for (const auto& s : slots) {
    float* a = averaged.data() + s.offset;
    const float* x = p + s.offset;
    if (reference) {
      for (size_t i = 0; i < s.size; ++i) a[i] = copy ? x[i] : lerp_torch(a[i], x[i], w);
      continue;
    }
    parallel_for(
        static_cast<int64_t>(s.size), kParallelThreshold,
        [=](int64_t begin, int64_t end, float* __restrict__ a, const float* __restrict__ x) {
          if (copy) {
            std::copy(x + begin, x + end, a + begin);
            return;
          }
#pragma omp simd
          for (int64_t i = begin; i < end; ++i) a[i] = lerp_torch(a[i], x[i], w);
        },
        a, x);
  }
}

double Optimizer::step(bool reference) {
  if (average_swapped)
    throw std::runtime_error(
        "the optimizer's average is swapped into the model (inside opt.averaged() or after "
        "opt.swap_average()); swap it back before stepping");
  FlushDenormals ftz;  // main thread; large segments also set it per worker (kernels)
  float* p = model->params();
  float* g = model->grads();
  std::vector<Segment> segs;
  std::vector<size_t> idx;
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].trainable()) {
      segs.push_back({slots[i].offset, slots[i].size});
      idx.push_back(i);
    }
  // The L1 penalty is part of the gradient (Keras adds it to the loss): it is in the norm,
  // clipped and normalized with the rest, and left in the gradient arena.
  add_l1(g, p, idx, reference);
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
  const std::vector<float> gscale = gradient_scales(idx, sq, norm);
  const float clip = clip_mode == ClipMode::Value ? clip_value : 0.0f;
  for (size_t k = 0; k < segs.size(); ++k) {
    const ParamSlot& s = slots[idx[k]];
    const int64_t t = ++slot_steps[idx[k]];
    if (reference)
      update_segment_reference(idx[k], s, p + s.offset, g + s.offset, gscale[k], clip, t);
    else
      update_segment(idx[k], s, p + s.offset, g + s.offset, gscale[k], clip, t);
  }
  apply_max_norm(p, idx, reference);
  ++steps;
  update_average(p, reference);
  return norm;
}

}  // namespace fastnet

// Optimizer base: one reduction for the gradient norms, clipping folded into the update pass.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/reduce.h"

namespace fastnet {

class Model;

enum class ClipMode : int { None = 0, GlobalNorm, LayerNorm, Value };

// One parameter tensor as the optimizer sees it: its arena segment and its group's settings.
// lr and weight_decay are what the kernels read (float32); lr_value and weight_decay_value
// keep the values as set, which Python reads back (opt.lr, param_groups[i]["lr"]).
struct ParamSlot {
  size_t offset = 0;
  size_t size = 0;
  float lr = 1e-3f;
  float weight_decay = 0.0f;
  double lr_value = 1e-3;
  double weight_decay_value = 0.0;
  const bool* trainable_flag = nullptr;  // the model's flag (ParamDecl::trainable); null: true
  void set_lr(double v) {
    lr_value = v;
    lr = static_cast<float>(v);
  }
  void set_weight_decay(double v) {
    weight_decay_value = v;
    weight_decay = static_cast<float>(v);
  }
  bool trainable() const { return !trainable_flag || *trainable_flag; }
};

class Optimizer {
 public:
  // num_state_arenas: per-element state, each in the arena's layout. scalars_per_slot: per-slot
  // scalar state (e.g. Nadam's μ-product), each starting at `scalar_init`.
  Optimizer(std::shared_ptr<Model> model, std::vector<ParamSlot> slots, ClipMode clip_mode,
            float clip_value, size_t num_state_arenas, size_t scalars_per_slot = 0,
            double scalar_init = 0.0);
  virtual ~Optimizer() = default;

  // One step over the model's gradients. Returns the global L2 norm of the trainable
  // gradients before clipping. When that norm is not finite nothing is written, the step is
  // counted in skipped_steps and the (non-finite) norm is returned.
  // reference = true runs the plain scalar loops (update_segment_reference and a sequential
  // norm) instead of the fused kernels: tests compare the two.
  double step(bool reference = false);

  std::vector<ParamSlot> slots;
  ClipMode clip_mode;
  float clip_value;
  int64_t steps = 0;                 // applied updates
  std::vector<int64_t> slot_steps;   // updates applied to each slot (torch keeps a step per tensor)
  int64_t skipped_steps = 0;         // non-finite gradients
  std::vector<double> last_sumsq;    // per-slot Σg² of the last step (diagnostics)
  std::vector<AlignedBuffer> state;  // per-parameter state, each in the arena's layout
  // Per-slot scalar state, scalars_per_slot values per slot (slot k's at slot_scalars(k)),
  // saved and restored with the rest (Python's state_dict "slot_state").
  std::vector<double> slot_state;
  size_t scalars_per_slot = 0;
  double* slot_scalars(size_t k) { return slot_state.data() + k * scalars_per_slot; }
  // A hyper-parameter that a schedule may change between steps (1cycle's momentum or β1, as
  // torch's OneCycleLR writes param_groups' "momentum" / "betas"), by its registry name;
  // nullptr when the rule has none of that name or its state was sized without it.
  virtual float* scheduled_hparam(const std::string&) { return nullptr; }
  std::shared_ptr<Model> model;

 protected:
  // Update one segment (slot k) in one fused pass. g is the raw gradient; the effective
  // gradient is clamp(g · gscale, ±clip) when clip > 0, else g · gscale. t is this slot's
  // 1-based step count (a parameter frozen so far starts at t = 1 when unfrozen).
  virtual void update_segment(size_t k, const ParamSlot& s, float* p, const float* g, float gscale,
                              float clip, int64_t t) = 0;
  // The same update as a plain scalar loop that follows torch.optim's lines one by one.
  virtual void update_segment_reference(size_t k, const ParamSlot& s, float* p, const float* g,
                                        float gscale, float clip, int64_t t) = 0;
};

// The two per-segment hooks every optimizer overrides: the fused pass and its reference twin.
#define FASTNET_UPDATE_SEGMENT_OVERRIDES                                                    \
  void update_segment(size_t k, const ParamSlot& s, float* p, const float* g, float gscale, \
                      float clip, int64_t t) override;                                      \
  void update_segment_reference(size_t k, const ParamSlot& s, float* p, const float* g,     \
                                float gscale, float clip, int64_t t) override;

// Effective gradient (clip folded in): shared by every update kernel.
// Branch-free (min/max against +inf when there is no clip) so the update loops vectorize.
inline float effective_grad(float g, float gscale, float clip) {
  const float c = clip > 0.0f ? clip : std::numeric_limits<float>::infinity();
  const float v = g * gscale;
  return std::min(std::max(v, -c), c);
}

// torch.lerp's formula (aten/src/ATen/native/Lerp.h): a + w·(b − a) for |w| < 0.5, else
// b − (b − a)·(1 − w). w is a per-segment constant, so the branch is loop-invariant.
inline float lerp_torch(float a, float b, float w) {
  return (w < 0.5f && w > -0.5f) ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

}  // namespace fastnet

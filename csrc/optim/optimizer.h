// Optimizer base: one reduction for the gradient norms, clipping (and gradient normalization)
// folded into the update pass; per-layer L1 penalties, max-norm constraints and a model
// average (EMA / Polyak) applied in the same step.
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

// TensorNorm clips each parameter tensor's norm on its own (Keras' per-variable clipnorm);
// LayerNorm clips the norm of each layer's whole gradient vector [W, b] (the tensors that share
// ParamSlot::layer). The numbers are the Python binding's clip_mode codes.
enum class ClipMode : int { None = 0, GlobalNorm, TensorNorm, Value, LayerNorm };

// Normalized gradient descent: the gradient is divided by its global or per-layer L2 norm
// before clipping and the update rule (g / max(‖g‖, eps)).
enum class NormalizeMode : int { None = 0, Global, Layer };

// A running average of the parameters, updated after every applied update: an exponential
// moving average (torch.optim.swa_utils.get_ema_multi_avg_fn) or the plain mean of the
// iterates (Polyak averaging; AveragedModel's default).
enum class AverageMode : int { None = 0, EMA, Polyak };

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
  int64_t layer = -1;     // slots of one layer share it (per-layer clip); -1: a layer of its own
  float l1 = 0.0f;        // L1 penalty λ: λ·sign(w) added to the gradient (Keras l1 regularizer)
  float max_norm = 0.0f;  // > 0: every column's L2 norm ≤ max_norm after the update (Keras MaxNorm)
  size_t columns = 0;     // columns of the (rows, columns) kernel the max-norm acts on
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

  // Starts a running average of the slots' parameters (from their current values; the first
  // applied update copies, as AveragedModel). decay is the EMA's (ignored for Polyak).
  void set_average(AverageMode mode, double decay);
  // Exchanges the parameters and their average, slot by slot (twice restores both exactly).
  // While swapped, step() refuses to run.
  void swap_average();

  std::vector<ParamSlot> slots;
  ClipMode clip_mode;
  float clip_value;
  NormalizeMode normalize = NormalizeMode::None;  // set by normalized rules (NormalizedSGD)
  double normalize_eps = 1e-8;
  AverageMode average = AverageMode::None;
  double ema_decay = 0.999;
  int64_t averaged_steps = 0;  // updates folded into the average
  bool average_swapped = false;
  AlignedBuffer averaged;            // the average, in the arena's layout (empty without averaging)
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

 private:
  // The per-slot gradient scale (clip and normalization) of the trainable slots idx with
  // squared norms sq, whose global norm is `norm`.
  std::vector<float> gradient_scales(const std::vector<size_t>& idx, std::vector<double> sq,
                                     double norm) const;
  void add_l1(float* g, const float* p, const std::vector<size_t>& idx, bool reference) const;
  void apply_max_norm(float* p, const std::vector<size_t>& idx, bool reference) const;
  void update_average(const float* p, bool reference);
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

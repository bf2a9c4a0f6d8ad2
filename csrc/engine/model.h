// The C++ model: layers over one flat, 64-byte-aligned parameter arena and a gradient arena
// of the same layout, plus per-batch workspaces sized once per batch size.
#pragma once
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/arena.h"
#include "engine/collective.h"
#include "inference/dense_infer.h"
#include "layers/layer.h"
#include "losses/loss.h"

namespace fastnet {

class Optimizer;

// Activations and layer scratch for one pass over up to `batch` rows. The model keeps one for
// training (forward/backward/train_step share it) and lends others to inference calls, so any
// number of threads can predict at once.
struct Workspace {
  int64_t batch = 0;
  std::vector<AlignedBuffer> acts;      // acts[0] input copy, acts[i+1] output of layer i
  std::vector<AlignedBuffer> layer_ws;  // per-layer scratch
  AlignedBuffer grad_a, grad_b;         // ping-pong buffers for the backward pass (training)
  AlignedBuffer epilogue;               // inference: a fused step's scale and shift
};

// One step of inference (csrc/engine/infer_plan.cpp): layers [first, last] at once. Fused: a
// Dense whose product applies the BatchNorm and the activation after it in its epilogue.
struct InferStep {
  enum Kind { Layer, Identity, Fused };
  Kind kind = Layer;
  size_t first = 0, last = 0;
  InferenceRole dense, bn, act;  // Fused: bn.kind is Opaque when there is no BatchNorm
  int bf16 = -1;                 // the step's packed weight when the model is frozen to bf16
};

// Returns true when a long call should stop (a pending signal): checked between steps/chunks.
using StopCheck = std::function<bool()>;

class Model {
 public:
  Model() = default;
  void add(const LayerConfig& cfg);
  // Lays the parameters out in the arenas (each segment starts on a 64-byte boundary).
  void build();
  bool built() const { return built_; }
  // Training needs at least two rows per batch (a layer with batch statistics, e.g. BatchNorm):
  // the epoch loop then lets a lone leftover row join the previous batch.
  bool batch_statistics() const {
    for (const auto& l : layers_)
      if (l->batch_statistics) return true;
    return false;
  }

  int64_t in_features() const { return first_layer().in; }
  int64_t out_features() const { return last_layer().out; }
  size_t arena_floats() const { return arena_floats_; }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  size_t num_layers() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_.at(i); }
  std::vector<ParamDecl*> param_decls();

  // Forward pass; returns the output (batch, out) held in the model's training workspace. The
  // input is copied when copy_input (so a later backward sees it even if the caller's array
  // changes).
  const float* forward(const float* X, int64_t batch, bool training, bool copy_input);
  // Inference-mode forward of `batch` rows in a borrowed workspace; reads the parameters only.
  const float* infer(const float* X, int64_t batch, Workspace& ws) const;
  // The inference plan, one line per step (tests and docs read it).
  std::vector<std::string> plan_summary() const;
  // Turns this model into an inference copy with bf16 weights (dense_infer.h): each fused
  // Dense's weight packed as bf16 once, here; training it afterwards is an error.
  void freeze_bf16();
  bool frozen_bf16() const { return !bf16_weights_.empty(); }
  size_t bf16_bytes() const;
  // The bf16 weight of fused step `i` as float32 (K, N), for tests.
  std::vector<float> bf16_weight(size_t step) const;
  // Rows per inference chunk: at most `batch_size`, fewer when a chunk's workspace would pass
  // kInferWorkspaceFloats (peak memory beyond input and output is bounded whatever n is).
  int64_t infer_rows(int64_t batch_size) const;
  static constexpr size_t kInferWorkspaceFloats = size_t{8} << 20;  // 32 MiB
  // Backward pass after a training forward. dY (batch, out). dX (batch, in) written unless null.
  void backward(const float* dY, float* dX);
  // Forward, loss, backward, optimizer update. Returns the loss; gnorm receives the gradient norm.
  // weights: one sample weight per row, or null (losses/loss.h: the weighted mean).
  double train_step(const float* X, int64_t batch, const float* target, const int32_t* labels,
                    LossKind loss, const LossParams& lp, Optimizer* opt, double* gnorm,
                    const float* weights = nullptr);
  // Mean loss of a forward pass in inference mode (no gradients).
  double eval_loss(const float* X, int64_t batch, const float* target, const int32_t* labels,
                   LossKind loss, const LossParams& lp, const float* weights = nullptr);

  // Whole-epoch training (csrc/engine/fit.cpp): see FitStats.
  struct FitStats {
    double loss_sum = 0.0;    // Σ batch mean loss × batch weight (rows without weights)
    double weight_sum = 0.0;  // Σ batch weight: loss_sum / weight_sum is the epoch's mean
    int64_t samples = 0;
    int64_t correct = 0;     // accuracy hits (fit.cpp: argmax, or per element for binary CE)
    double gnorm_sum = 0.0;  // Σ finite gradient norms
    int64_t steps = 0;
    int64_t nonfinite = 0;  // steps skipped for a non-finite gradient norm
    double last_gnorm = 0.0;
  };
  // Runs batches [first_batch, first_batch + num_batches) of an epoch whose row order is
  // `order` (n indices): gathers each minibatch into a contiguous buffer, then one
  // train_step. lr_factors (one per batch, or null) scale every slot's base lr. With
  // stop_on_nonfinite the run ends after the first step whose gradient norm is not finite.
  // A lone leftover row joins the last batch when batch_statistics(). x_rows (>= 0): X,
  // target, labels and weights hold x_rows rows and `order` picks n of them (a data-parallel
  // rank's shard of the epoch); -1: n.
  void fit_batches(const float* X, int64_t n, const float* target, const int32_t* labels,
                   const int64_t* order, int64_t batch_size, int64_t first_batch,
                   int64_t num_batches, LossKind loss, const LossParams& lp, Optimizer* opt,
                   const float* slot_base_lrs, const float* lr_factors, bool stop_on_nonfinite,
                   FitStats& stats, const StopCheck* stop = nullptr, const float* weights = nullptr,
                   int64_t x_rows = -1);
  // Batches in an epoch of n rows; with absorb_single a lone leftover row joins the last batch.
  static int64_t epoch_batches(int64_t n, int64_t batch_size, bool absorb_single);
  // Batched inference: loss sum (Σ batch mean × batch weight, rows without weights) and
  // accuracy hits over n rows.
  // Takes the parameters' shared lock itself (per chunk); returns false when `stop` ended it.
  bool evaluate(const float* X, int64_t n, const float* target, const int32_t* labels,
                int64_t batch_size, LossKind loss, const LossParams& lp, double* loss_sum,
                int64_t* correct, const StopCheck* stop = nullptr, const float* weights = nullptr);
  // Batched inference into out (n, out_features); takes the shared lock itself (per chunk).
  bool predict(const float* X, int64_t n, int64_t batch_size, float* out,
               const StopCheck* stop = nullptr);
  // MC dropout (Gal & Ghahramani 2016; csrc/engine/mc_dropout.cpp): `samples` inference
  // passes over n rows with the dropout layers drawing masks (stream seed `mc_seed`, pass s
  // as the step) and BatchNorm on its running statistics; mean and stdev (n, out_features)
  // receive the per-element mean and standard deviation over the passes (ddof 0). Nothing in
  // the model changes (arenas, step). Shared lock per chunk and pass; false when `stop` ended it.
  bool predict_mc(const float* X, int64_t n, int64_t batch_size, int64_t samples, uint64_t mc_seed,
                  float* mean, float* stdev, const StopCheck* stop = nullptr);
  // Output of the last forward pass (batch rows of out_features).
  const float* last_output() const { return train_ws_.acts.back().data(); }
  // Output of layer i from the last forward pass (last_batch() rows of layer(i).out); null
  // before any forward. Diagnostics read activations here.
  const float* layer_output(size_t i) const {
    return input_batch_ > 0 ? train_ws_.acts.at(i + 1).data() : nullptr;
  }
  int64_t last_batch() const { return input_batch_; }

  // Data-parallel training (engine/collective.h): set for the duration of a distributed
  // train_step / fit_batches call (fastnet/distributed.py), null otherwise. train_step then
  // all-reduces the gradient arena (mean over the ranks) before the optimizer step.
  Collective* collective = nullptr;
  // Features of each BatchNorm layer, children included, in forward order (a round's
  // synchronised BatchNorm collectives).
  const std::vector<int64_t>& batchnorm_features() const { return bn_features_; }

  uint64_t seed = 0;
  uint64_t step = 0;              // training forward passes so far (random streams)
  int64_t last_train_batch = -1;  // batch of the last training forward; -1 when none
  // Parameters and the training workspace: held exclusively (GIL released) by every call that
  // writes the arenas or uses the training workspace (forward, backward, train_step, one step
  // of fit, optimizer steps), shared by inference (predict, evaluate, eval_loss), which
  // borrows its own workspaces. fit takes it per step, so predictions from other threads
  // interleave with training and see the weights after some whole step.
  std::shared_mutex mutex;
  // Serialises whole fit_batches calls on one model (the gathered-minibatch buffers).
  std::mutex fit_mutex;

 private:
  void ensure_workspace(Workspace& ws, int64_t batch, bool training) const;
  std::unique_ptr<Workspace> borrow_workspace();
  void return_workspace(std::unique_ptr<Workspace> ws);
  // The end layers, checked: a model with no layers has no input or output width.
  const Layer& first_layer() const {
    if (layers_.empty()) throw std::logic_error("the model has no layers");
    return *layers_.front();
  }
  const Layer& last_layer() const {
    if (layers_.empty()) throw std::logic_error("the model has no layers");
    return *layers_.back();
  }
  StepContext context(bool training) {
    StepContext c;
    c.params = params_.data();
    c.grads = grads_.data();
    c.training = training;
    // Data parallel: each rank its own random streams (dropout masks), rank 0 the model's.
    c.seed =
        collective ? seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(collective->rank) : seed;
    c.step = step;
    c.collective = collective;
    return c;
  }
  void backward_impl(float* dY_work, float* dX);
  void build_plan();
  Epilogue fused_epilogue(const InferStep& s, float* scratch) const;
  void check_trainable() const {
    if (frozen_bf16())
      throw std::logic_error("this is an inference copy (bf16): it predicts but does not train");
  }

  // The distributed part of train_step: the round's final all-reduce (the sum of the ranks'
  // gradients of the loss divided by world, their mean).
  void reduce_gradients(std::exception_ptr error);

  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<int64_t> bn_features_;
  std::vector<InferStep> plan_;
  std::vector<PackedBf16> bf16_weights_;
  bool built_ = false;
  size_t arena_floats_ = 0;
  AlignedBuffer params_, grads_;
  Workspace train_ws_;
  std::mutex idle_mutex_;
  std::vector<std::unique_ptr<Workspace>> idle_ws_;  // inference workspaces to lend, a few kept
  const float* input_ = nullptr;                     // input of the last forward
  int64_t input_batch_ = 0;
  AlignedBuffer fit_x_, fit_t_;  // gathered minibatch
  std::vector<int32_t> fit_l_;
};

}  // namespace fastnet

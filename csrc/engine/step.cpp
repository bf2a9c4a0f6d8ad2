// One training step (forward, loss, backward, optimizer update) and the inference-mode loss.
#include <mutex>
#include <shared_mutex>

#include "engine/model.h"
#include "optim/optimizer.h"

namespace fastnet {

double Model::train_step(const float* X, int64_t batch, const float* target, const int32_t* labels,
                         LossKind loss, const LossParams& lp, Optimizer* opt, double* gnorm,
                         const float* weights) {
  double value = 0.0;
  if (collective) {
    // Data parallel: every rank completes the round of collectives whatever happens here, so
    // an error on one rank reaches all of them (reduce_gradients rethrows it).
    std::exception_ptr error;
    try {
      const float* out = forward(X, batch, true, false);
      const int64_t cols = layers_.back()->out;
      float* dY = train_ws_.grad_a.data();
      value = loss_forward_backward(loss, lp, out, target, labels, dY, batch, cols, weights);
      // The mean over the ranks, applied to dY (batch × out floats) rather than to the
      // arena after the all-reduce: every gradient is linear in dY, BatchNorm's synchronised
      // sums included, so the all-reduce's sum is then the mean.
      const float scale = 1.0f / static_cast<float>(collective->world);
      for (int64_t i = 0; i < batch * cols; ++i) dY[i] *= scale;
      backward_impl(dY, nullptr);
    } catch (...) {
      error = std::current_exception();
    }
    reduce_gradients(error);
  } else {
    const float* out = forward(X, batch, true, false);
    value = loss_forward_backward(loss, lp, out, target, labels, train_ws_.grad_a.data(), batch,
                                  layers_.back()->out, weights);
    backward_impl(train_ws_.grad_a.data(), nullptr);
  }
  // Data parallel: the averaged gradient is the same on every rank, so clipping's global norm
  // and the non-finite skip are decided identically everywhere.
  double norm = opt ? opt->step() : 0.0;
  if (gnorm) *gnorm = norm;
  input_ = nullptr;  // the caller's array is not ours to keep
  last_train_batch = -1;
  return value;
}

void Model::reduce_gradients(std::exception_ptr error) {
  if (error) {
    collective->fail_round(arena_floats_);
    std::rethrow_exception(error);
  }
  if (!collective->reduce_final(grads_.data(), arena_floats_, false))
    throw PeerFailure(
        "another rank failed during this data-parallel step (its own error is raised there); "
        "the step was not applied");
}

double Model::eval_loss(const float* X, int64_t batch, const float* target, const int32_t* labels,
                        LossKind loss, const LossParams& lp, const float* weights) {
  auto ws = borrow_workspace();
  double value;
  {
    std::shared_lock<std::shared_mutex> lock(mutex);
    const float* out = infer(X, batch, *ws);
    value = loss_forward_backward(loss, lp, out, target, labels, nullptr, batch,
                                  layers_.back()->out, weights);
  }
  return_workspace(std::move(ws));
  return value;
}

}  // namespace fastnet

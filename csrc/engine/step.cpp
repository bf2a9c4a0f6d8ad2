// One training step (forward, loss, backward, optimizer update) and the inference-mode loss.
#include <mutex>
#include <shared_mutex>

#include "engine/model.h"
#include "optim/optimizer.h"

namespace fastnet {

double Model::train_step(const float* X, int64_t batch, const float* target, const int32_t* labels,
                         LossKind loss, const LossParams& lp, Optimizer* opt, double* gnorm,
                         const float* weights) {
  const float* out = forward(X, batch, true, false);
  double value = loss_forward_backward(loss, lp, out, target, labels, train_ws_.grad_a.data(),
                                       batch, layers_.back()->out, weights);
  backward_impl(train_ws_.grad_a.data(), nullptr);
  double norm = opt ? opt->step() : 0.0;
  if (gnorm) *gnorm = norm;
  input_ = nullptr;  // the caller's array is not ours to keep
  last_train_batch = -1;
  return value;
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

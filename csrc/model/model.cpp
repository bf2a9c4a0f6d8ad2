#include "model.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "../optim/optimizer.h"

namespace fastnet {

void Model::add(const LayerConfig& cfg) {
  if (built_) throw std::logic_error("model already built");
  auto layer = make_layer(cfg);
  if (!layers_.empty() && layers_.back()->out != layer->in)
    throw std::invalid_argument("layer " + std::to_string(layers_.size()) + " expects " +
                                std::to_string(layer->in) + " input features but the previous "
                                "layer gives " + std::to_string(layers_.back()->out));
  layers_.push_back(std::move(layer));
}

std::vector<ParamDecl*> Model::param_decls() {
  std::vector<ParamDecl*> all;
  for (auto& l : layers_)
    for (auto* d : l->param_decls()) all.push_back(d);
  return all;
}

void Model::build() {
  if (built_) return;
  if (layers_.empty()) throw std::invalid_argument("a model needs at least one layer");
  int next = 0;
  for (auto& l : layers_) next = l->assign_index(next);
  size_t off = 0;
  for (auto* d : param_decls()) {
    // Each tensor and the running sum must stay far from SIZE_MAX (AlignedBuffer adds 63 bytes).
    constexpr size_t kMaxFloats = (SIZE_MAX - 63) / sizeof(float) / 2;
    size_t n = 1;
    for (auto dim : d->shape) {
      if (dim < 0 || (dim > 0 && n > kMaxFloats / static_cast<size_t>(dim)))
        throw std::length_error("parameter " + d->name + " is too large for the arena");
      n *= static_cast<size_t>(dim);
    }
    if (n > kMaxFloats - 16 - off)
      throw std::length_error("the model's parameters are too large for the arena");
    d->offset = off;
    off += (d->size() + 15) / 16 * 16;  // 16 floats = 64 bytes
  }
  arena_floats_ = off;
  params_.resize(std::max<size_t>(off, 16));
  grads_.resize(std::max<size_t>(off, 16));
  acts_.resize(layers_.size() + 1);
  layer_ws_.resize(layers_.size());
  built_ = true;
}

void Model::ensure_workspace(int64_t batch) {
  if (batch <= ws_batch_) return;
  acts_[0].resize(static_cast<size_t>(batch * layers_.front()->in));
  int64_t widest = layers_.front()->in;
  for (size_t i = 0; i < layers_.size(); ++i) {
    acts_[i + 1].resize(static_cast<size_t>(batch * layers_[i]->out));
    layer_ws_[i].resize(layers_[i]->workspace_floats(batch));
    widest = std::max(widest, layers_[i]->out);
  }
  grad_a_.resize(static_cast<size_t>(batch * widest));
  grad_b_.resize(static_cast<size_t>(batch * widest));
  ws_batch_ = batch;
}

const float* Model::forward(const float* X, int64_t batch, bool training, bool copy_input) {
  if (!built_) throw std::logic_error("model not built");
  if (batch <= 0) throw std::invalid_argument("empty batch");
  ensure_workspace(batch);
  if (copy_input) {
    std::memcpy(acts_[0].data(), X, sizeof(float) * batch * layers_.front()->in);
    X = acts_[0].data();
  }
  input_ = X;
  input_batch_ = batch;
  StepContext ctx = context(training);
  const float* x = X;
  for (size_t i = 0; i < layers_.size(); ++i) {
    float* y = acts_[i + 1].data();
    layers_[i]->forward(x, y, layer_ws_[i].data(), batch, ctx);
    x = y;
  }
  if (training) {
    last_train_batch = batch;
    ++step;
  } else {
    last_train_batch = -1;  // inference overwrote the saved activations
  }
  return x;
}

void Model::backward_impl(float* g, float* dX) {
  // The random streams of the forward pass were those of step - 1.
  StepContext ctx = context(true);
  ctx.step = step - 1;
  const int64_t batch = input_batch_;
  float* cur = g;
  for (size_t i = layers_.size(); i-- > 0;) {
    const float* x = i == 0 ? input_ : acts_[i].data();
    float* next = nullptr;
    if (i > 0) next = (cur == grad_a_.data()) ? grad_b_.data() : grad_a_.data();
    else next = dX;  // may be null: the first layer's dX is not needed in a training step
    layers_[i]->backward(x, acts_[i + 1].data(), cur, next, layer_ws_[i].data(), batch, ctx);
    cur = next;
  }
}

void Model::backward(const float* dY, float* dX) {
  if (last_train_batch < 0)
    throw std::logic_error("backward() needs a forward(training=True) first");
  const int64_t batch = input_batch_;
  std::memcpy(grad_a_.data(), dY, sizeof(float) * batch * layers_.back()->out);
  backward_impl(grad_a_.data(), dX);
}

double Model::train_step(const float* X, int64_t batch, const float* target,
                         const int32_t* labels, LossKind loss, const LossParams& lp,
                         Optimizer* opt, double* gnorm) {
  const float* out = forward(X, batch, true, false);
  double value = loss_forward_backward(loss, lp, out, target, labels, grad_a_.data(), batch,
                                       layers_.back()->out);
  backward_impl(grad_a_.data(), nullptr);
  double norm = opt ? opt->step() : 0.0;
  if (gnorm) *gnorm = norm;
  input_ = nullptr;  // the caller's array is not ours to keep
  last_train_batch = -1;
  return value;
}

double Model::eval_loss(const float* X, int64_t batch, const float* target,
                        const int32_t* labels, LossKind loss, const LossParams& lp) {
  const float* out = forward(X, batch, false, false);
  input_ = nullptr;
  return loss_forward_backward(loss, lp, out, target, labels, nullptr, batch,
                               layers_.back()->out);
}

}  // namespace fastnet

#include "engine/model.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "layers/registry.h"

namespace fastnet {

namespace {

// BatchNorm layers of a configuration tree in forward order (composites run their children
// in order).
void collect_batchnorm(const LayerConfig& cfg, std::vector<int64_t>& out) {
  if (cfg.kind == "batchnorm") out.push_back(static_cast<int64_t>(cfg.number("features")));
  for (const auto& child : cfg.children) collect_batchnorm(child, out);
}

}  // namespace

void Model::add(const LayerConfig& cfg) {
  if (built_) throw std::logic_error("model already built");
  auto layer = make_layer(cfg);
  if (!layers_.empty() && layers_.back()->out != layer->in)
    throw std::invalid_argument("layer " + std::to_string(layers_.size()) + " expects " +
                                std::to_string(layer->in) +
                                " input features but the previous "
                                "layer gives " +
                                std::to_string(layers_.back()->out));
  layers_.push_back(std::move(layer));
  collect_batchnorm(cfg, bn_features_);
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
    constexpr size_t kMaxFloats = (SIZE_MAX - (kAlignBytes - 1)) / sizeof(float) / 2;
    size_t n = 1;
    for (auto dim : d->shape) {
      if (dim < 0 || (dim > 0 && n > kMaxFloats / static_cast<size_t>(dim)))
        throw std::length_error("parameter " + d->name + " is too large for the arena");
      n *= static_cast<size_t>(dim);
    }
    if (n > kMaxFloats - kAlignFloats - off)
      throw std::length_error("the model's parameters are too large for the arena");
    d->offset = off;
    off += padded_floats(d->size());
  }
  arena_floats_ = off;
  params_.resize(std::max(off, kAlignFloats));
  // One block more: a data-parallel step appends its error flag to the gradient all-reduce.
  grads_.resize(off + kAlignFloats);
  build_plan();
  built_ = true;
}

void Model::ensure_workspace(Workspace& ws, int64_t batch, bool training) const {
  if (batch <= ws.batch) return;
  ws.acts.resize(layers_.size() + 1);
  ws.layer_ws.resize(layers_.size());
  ws.acts[0].resize(static_cast<size_t>(batch * layers_.front()->in));
  int64_t widest = layers_.front()->in;
  for (size_t i = 0; i < layers_.size(); ++i) {
    ws.acts[i + 1].resize(static_cast<size_t>(batch * layers_[i]->out));
    ws.layer_ws[i].resize(layers_[i]->workspace_floats(batch));
    widest = std::max(widest, layers_[i]->out);
  }
  ws.epilogue.resize(static_cast<size_t>(2 * widest));
  if (training) {
    ws.grad_a.resize(static_cast<size_t>(batch * widest));
    ws.grad_b.resize(static_cast<size_t>(batch * widest));
  }
  ws.batch = batch;
}

const float* Model::forward(const float* X, int64_t batch, bool training, bool copy_input) {
  if (!built_) throw std::logic_error("model not built");
  if (training) check_trainable();
  if (batch <= 0) throw std::invalid_argument("empty batch");
  Workspace& ws = train_ws_;
  ensure_workspace(ws, batch, true);
  if (copy_input) {
    std::memcpy(ws.acts[0].data(), X, sizeof(float) * batch * layers_.front()->in);
    X = ws.acts[0].data();
  }
  input_ = X;
  input_batch_ = batch;
  StepContext ctx = context(training);
  const float* x = X;
  for (size_t i = 0; i < layers_.size(); ++i) {
    float* y = ws.acts[i + 1].data();
    layers_[i]->forward(x, y, ws.layer_ws[i].data(), batch, ctx);
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

int64_t Model::infer_rows(int64_t batch_size) const {
  int64_t rows = std::max<int64_t>(1, batch_size);
  auto floats = [&](int64_t b) {
    double total = static_cast<double>(b) * static_cast<double>(layers_.front()->in);
    for (auto& l : layers_)
      total += static_cast<double>(b) * static_cast<double>(l->out) +
               static_cast<double>(l->workspace_floats(b));
    return total;
  };
  while (rows > 1 && floats(rows) > static_cast<double>(kInferWorkspaceFloats))
    rows = (rows + 1) / 2;
  return rows;
}

std::unique_ptr<Workspace> Model::borrow_workspace() {
  {
    std::lock_guard<std::mutex> lock(idle_mutex_);
    if (!idle_ws_.empty()) {
      auto ws = std::move(idle_ws_.back());
      idle_ws_.pop_back();
      return ws;
    }
  }
  return std::make_unique<Workspace>();
}

void Model::return_workspace(std::unique_ptr<Workspace> ws) {
  constexpr size_t kKeepIdle = 4;  // a few threads predicting at once reuse theirs
  std::lock_guard<std::mutex> lock(idle_mutex_);
  if (idle_ws_.size() < kKeepIdle) idle_ws_.push_back(std::move(ws));
}

void Model::backward_impl(float* g, float* dX) {
  // The random streams of the forward pass were those of step - 1.
  StepContext ctx = context(true);
  ctx.step = step - 1;
  const int64_t batch = input_batch_;
  Workspace& ws = train_ws_;
  float* cur = g;
  for (size_t i = layers_.size(); i-- > 0;) {
    const float* x = i == 0 ? input_ : ws.acts[i].data();
    float* next = nullptr;
    if (i > 0)
      next = (cur == ws.grad_a.data()) ? ws.grad_b.data() : ws.grad_a.data();
    else
      next = dX;  // may be null: the first layer's dX is not needed in a training step
    layers_[i]->backward(x, ws.acts[i + 1].data(), cur, next, ws.layer_ws[i].data(), batch, ctx);
    cur = next;
  }
}

void Model::backward(const float* dY, float* dX) {
  if (last_train_batch < 0)
    throw std::runtime_error("backward() needs a forward(training=True) first");
  const int64_t batch = input_batch_;
  std::memcpy(train_ws_.grad_a.data(), dY, sizeof(float) * batch * layers_.back()->out);
  backward_impl(train_ws_.grad_a.data(), dX);
}

}  // namespace fastnet

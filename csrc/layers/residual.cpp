// Residual block (He et al. 2016): y = x + scale·f(x), f a stack of child layers mapping the
// width to itself; scale < 1 is residual scaling (Szegedy et al. 2017).
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "layers/registry.h"

namespace fastnet {

namespace {

// A composite layer owning its children. Everything it keeps between forward and backward
// lives in the workspace the model hands it, laid out as: the children's outputs, the
// children's own workspaces, and two gradient ping-pong buffers. The children's parameter
// names are prefixed with their position ("0.weight") so Python can route them back.
class ResidualLayer : public Layer {
 public:
  explicit ResidualLayer(const LayerConfig& cfg) {
    if (cfg.children.empty()) throw std::invalid_argument("Residual: needs at least one layer");
    scale_ = static_cast<float>(cfg.number("scale"));
    for (const auto& c : cfg.children) {
      children_.push_back(make_layer(c));
      batch_statistics = batch_statistics || children_.back()->batch_statistics;
    }
    in = out = children_.front()->in;
    int64_t width = in;
    for (size_t k = 0; k < children_.size(); ++k) {
      if (children_[k]->in != width)
        throw std::invalid_argument("Residual: layer " + std::to_string(k) + " expects " +
                                    std::to_string(children_[k]->in) + " features but gets " +
                                    std::to_string(width));
      width = children_[k]->out;
    }
    if (width != in)
      throw std::invalid_argument("Residual: the block maps " + std::to_string(in) +
                                  " features to " + std::to_string(width) +
                                  "; y = x + f(x) needs the same width");
    for (size_t k = 0; k < children_.size(); ++k)
      for (auto* d : children_[k]->param_decls()) d->name = std::to_string(k) + "." + d->name;
  }
  std::vector<ParamDecl*> param_decls() override {
    std::vector<ParamDecl*> all;
    for (auto& c : children_)
      for (auto* d : c->param_decls()) all.push_back(d);
    return all;
  }
  int assign_index(int next) override {
    index = next++;
    for (auto& c : children_) next = c->assign_index(next);
    return next;
  }
  size_t workspace_floats(int64_t batch) const override {
    Layout L = layout(batch);
    return L.total;
  }
  void forward(const float* X, float* Y, float* ws, int64_t batch,
               const StepContext& ctx) override {
    Layout L = layout(batch);
    const float* x = X;
    for (size_t k = 0; k < children_.size(); ++k) {
      float* y = ws + L.act[k];
      children_[k]->forward(x, y, ws + L.child_ws[k], batch, ctx);
      x = y;
    }
    const int64_t n = batch * out;
    const float s = scale_;
    parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) Y[i] = X[i] + s * x[i];
    });
  }
  void backward(const float* X, const float*, float* dY, float* dX, float* ws, int64_t batch,
                const StepContext& ctx) override {
    Layout L = layout(batch);
    const int64_t n = batch * out;
    float* ga = ws + L.grad_a;
    float* gb = ws + L.grad_b;
    const float s = scale_;
    // The skip path needs dY intact: the branch works on a scaled copy.
    parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) ga[i] = s * dY[i];
    });
    float* cur = ga;
    for (size_t k = children_.size(); k-- > 0;) {
      const float* x = k == 0 ? X : ws + L.act[k - 1];
      float* next = k > 0 ? (cur == ga ? gb : ga) : dX;
      children_[k]->backward(x, ws + L.act[k], cur, next, ws + L.child_ws[k], batch, ctx);
      cur = next;
    }
    if (!dX) return;
    parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) dX[i] += dY[i];
    });
  }

 private:
  struct Layout {
    std::vector<size_t> act, child_ws;
    size_t grad_a = 0, grad_b = 0, total = 0;
  };
  Layout layout(int64_t batch) const {
    Layout L;
    size_t off = 0;
    int64_t widest = in;
    for (auto& c : children_) {
      L.act.push_back(off);
      off += padded_floats(static_cast<size_t>(batch * c->out));
      widest = std::max(widest, c->out);
    }
    for (auto& c : children_) {
      L.child_ws.push_back(off);
      off += padded_floats(c->workspace_floats(batch));
    }
    L.grad_a = off;
    off += padded_floats(static_cast<size_t>(batch * widest));
    L.grad_b = off;
    off += padded_floats(static_cast<size_t>(batch * widest));
    L.total = off;
    return L;
  }
  float scale_ = 1.0f;
  std::vector<std::unique_ptr<Layer>> children_;
};

ComponentInfo info() {
  ComponentInfo i;
  i.name = "residual";
  i.doc =
      "Residual block (He et al. 2016): y = x + scale * f(x), f the child layers; scale < 1 "
      "is residual scaling (Szegedy et al. 2017).";
  i.params = {float_param("scale", 1.0, "Factor on the branch f(x).")};
  i.caps = {{"children", true}};
  return i;
}

const LayerRegistrar registrar(info(), [](const LayerConfig& cfg) -> std::unique_ptr<Layer> {
  return std::make_unique<ResidualLayer>(cfg);
});

}  // namespace

}  // namespace fastnet

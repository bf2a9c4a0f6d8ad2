// Inference: the plan that fuses each Dense with the BatchNorm and the activation after it
// (one product, its epilogue applying both: inference/epilogue.h), and the pass that runs it.
//
// The BatchNorm is folded per call, from the running statistics in the arena, into a scale
// and a shift per column (O(features), against the O(batch·in·features) product): nothing is
// cached from the weights, so training steps, set_weights, load and writes through a
// Parameter's NumPy view are all seen by the next prediction. The bf16 inference copy
// (freeze_bf16) is the one place where weights are converted ahead, and it is frozen.
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/model.h"

namespace fastnet {

namespace {

bool takes_epilogue_act(const InferStep& s) { return s.act.act == ActKind::None; }

}  // namespace

void Model::build_plan() {
  plan_.clear();
  const size_t L = layers_.size();
  for (size_t i = 0; i < L;) {
    InferStep s;
    s.first = s.last = i;
    const InferenceRole role = layers_[i]->inference_role();
    if (role.kind == InferenceRole::Identity) {
      s.kind = InferStep::Identity;
    } else if (role.kind == InferenceRole::Dense) {
      s.kind = InferStep::Fused;
      s.dense = role;
      s.act.act = role.act;
      s.act.ap = role.ap;
      s.act.slope = role.slope;
      // A BatchNorm folds in only before any nonlinearity: Dense(act=None) [Dropout] BatchNorm.
      size_t j = i + 1;
      auto skip_identity = [&](size_t k) {
        while (k < L && layers_[k]->inference_role().kind == InferenceRole::Identity) ++k;
        return k;
      };
      if (role.act == ActKind::None) {
        size_t k = skip_identity(j);
        if (k < L && layers_[k]->inference_role().kind == InferenceRole::BatchNorm) {
          s.bn = layers_[k]->inference_role();
          s.act.act = s.bn.act;  // BatchNorm's fused ReLU
          j = k + 1;
        }
      }
      if (takes_epilogue_act(s)) {
        size_t k = skip_identity(j);
        if (k < L && layers_[k]->inference_role().kind == InferenceRole::Activation) {
          const InferenceRole a = layers_[k]->inference_role();
          s.act.act = a.act;
          s.act.ap = a.ap;
          s.act.slope = a.slope;
          j = k + 1;
        }
      }
      s.last = j - 1;
    }
    plan_.push_back(s);
    i = s.last + 1;
  }
}

std::vector<std::string> Model::plan_summary() const {
  std::vector<std::string> out;
  for (const auto& s : plan_) {
    std::string line = std::to_string(s.first) + "-" + std::to_string(s.last) + " ";
    if (s.kind == InferStep::Identity) {
      line += "identity";
    } else if (s.kind == InferStep::Layer) {
      line += "layer";
    } else {
      line += "dense";
      if (s.bn.kind == InferenceRole::BatchNorm) line += "+batchnorm";
      if (s.act.act != ActKind::None) line += "+activation";
      if (s.bf16 >= 0) line += " bf16";
    }
    out.push_back(line);
  }
  return out;
}

Epilogue Model::fused_epilogue(const InferStep& s, float* scratch) const {
  const float* p = params_.data();
  const int64_t N = layers_[s.first]->out;
  Epilogue e;
  const float* bias = s.dense.bias ? p + s.dense.bias->offset : nullptr;
  if (s.bn.kind == InferenceRole::BatchNorm) {
    // y = γ·(z + b − mean)/√(var + eps) + β = z·scale + shift (in double, then float).
    const float* g = s.bn.gamma ? p + s.bn.gamma->offset : nullptr;
    const float* beta = s.bn.bias ? p + s.bn.bias->offset : nullptr;
    const float* mean = p + s.bn.mean->offset;
    const float* var = p + s.bn.var->offset;
    float* scale = scratch;
    float* shift = scratch + N;
    for (int64_t c = 0; c < N; ++c) {
      const double sc = (g ? g[c] : 1.0) / std::sqrt(static_cast<double>(var[c]) + s.bn.eps);
      scale[c] = static_cast<float>(sc);
      shift[c] =
          static_cast<float>(((bias ? bias[c] : 0.0) - mean[c]) * sc + (beta ? beta[c] : 0.0));
    }
    e.scale = scale;
    e.shift = shift;
  } else {
    e.shift = bias;
  }
  e.act = s.act.act;
  e.ap = s.act.ap;
  if (s.act.slope) e.ap.slope = p + s.act.slope->offset;
  return e;
}

const float* Model::infer(const float* X, int64_t batch, Workspace& ws) const {
  if (!built_) throw std::logic_error("model not built");
  if (batch <= 0) throw std::invalid_argument("empty batch");
  ensure_workspace(ws, batch, false);
  StepContext ctx;
  // Inference layers read the parameters only (no running statistics, no gradients).
  ctx.params = const_cast<float*>(params_.data());
  ctx.grads = nullptr;
  ctx.training = false;
  ctx.seed = seed;
  ctx.step = step;
  const float* x = X;
  for (const auto& s : plan_) {
    if (s.kind == InferStep::Identity) continue;
    float* y = ws.acts[s.last + 1].data();
    const Layer& first = *layers_[s.first];
    if (s.kind == InferStep::Layer) {
      layers_[s.first]->forward(x, y, ws.layer_ws[s.first].data(), batch, ctx);
    } else {
      const Epilogue e = fused_epilogue(s, ws.epilogue.data());
      if (s.bf16 >= 0)
        dense_infer_bf16(x, bf16_weights_[static_cast<size_t>(s.bf16)], y, batch, e);
      else
        dense_infer(x, params_.data() + s.dense.weight->offset, y, batch, first.in, first.out, e);
    }
    x = y;
  }
  return x;
}

void Model::freeze_bf16() {
  if (!built_) throw std::logic_error("model not built");
  if (frozen_bf16()) return;
  for (auto& s : plan_) {
    if (s.kind != InferStep::Fused) continue;
    const Layer& l = *layers_[s.first];
    s.bf16 = static_cast<int>(bf16_weights_.size());
    bf16_weights_.push_back(pack_bf16(params_.data() + s.dense.weight->offset, l.in, l.out));
  }
  if (bf16_weights_.empty())
    throw std::invalid_argument("bf16 needs at least one Dense layer outside a Residual block");
}

size_t Model::bf16_bytes() const {
  size_t n = 0;
  for (const auto& w : bf16_weights_) n += w.bytes();
  return n;
}

std::vector<float> Model::bf16_weight(size_t step) const {
  const InferStep& s = plan_.at(step);
  if (s.bf16 < 0)
    throw std::invalid_argument("step " + std::to_string(step) + " has no bf16 weight");
  return unpack_bf16(bf16_weights_[static_cast<size_t>(s.bf16)]);
}

}  // namespace fastnet

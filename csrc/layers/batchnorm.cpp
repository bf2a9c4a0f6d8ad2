#include "layers/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"
#include "layers/registry.h"

namespace fastnet {

namespace {

// Columns are processed in blocks: each thread owns whole columns, so the statistics (and
// their rounding) do not depend on the thread count, and the inner loop vectorizes.
constexpr int64_t kColBlock = 64;

inline int64_t num_blocks(int64_t features) { return (features + kColBlock - 1) / kColBlock; }

// Y = act(X·a + b) per column: the normalize + scale + shift pass.
void scale_shift(const float* X, const float* a, const float* b, float* Y, int64_t batch, int64_t F,
                 bool relu) {
  for_each_index(batch, batch * F >= kParallelThreshold, [&](int64_t r) {
    const float* x = X + r * F;
    float* y = Y + r * F;
    if (relu) {
#pragma omp simd
      for (int64_t c = 0; c < F; ++c) {
        float z = x[c] * a[c] + b[c];
        y[c] = z > 0.0f ? z : 0.0f;
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < F; ++c) y[c] = x[c] * a[c] + b[c];
    }
  });
}

void update_running(const float* mean, double* var_biased, float* running_mean, float* running_var,
                    float momentum, int64_t batch, int64_t F) {
  const double unbias = static_cast<double>(batch) / static_cast<double>(batch - 1);
  for (int64_t c = 0; c < F; ++c) {
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var_biased[c] * unbias);
  }
}

void check_batch(int64_t batch) {
  if (batch < 2)
    throw std::invalid_argument(
        "BatchNorm: training needs a batch of at least 2 rows (the batch variance of one row "
        "is undefined)");
}

}  // namespace

void batchnorm_forward_train(const float* X, const float* gamma, const float* beta, float* Y,
                             float* mean, float* invstd, float* running_mean, float* running_var,
                             float momentum, float eps, int64_t batch, int64_t F, bool relu,
                             Collective* sync, double* sync_rows) {
  check_batch(batch);
  std::vector<double> sums(2 * F + 2);  // Σ(x − s), Σ(x − s)², rows, collective flag slot
  const int64_t nb = num_blocks(F);
  // Pass 1: Σ(x − s) and Σ(x − s)² around the first row's value s (shifted data keeps the
  // textbook E[d²] − E[d]² formula accurate in double); synchronised: around the running
  // mean, the same shift on every rank.
  for_each_index(nb, batch * F >= kParallelThreshold, [&](int64_t blk) {
    const int64_t c0 = blk * kColBlock, w = std::min(kColBlock, F - c0);
    double s[kColBlock] = {0}, q[kColBlock] = {0};
    const float* shift = sync ? running_mean + c0 : X + c0;
    for (int64_t r = 0; r < batch; ++r) {
      const float* x = X + r * F + c0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) {
        double d = static_cast<double>(x[j]) - shift[j];
        s[j] += d;
        q[j] += d * d;
      }
    }
    for (int64_t j = 0; j < w; ++j) {
      sums[c0 + j] = s[j];
      sums[F + c0 + j] = q[j];
    }
  });
  sums[2 * F] = static_cast<double>(batch);
  const bool synced = sync && sync->reduce_doubles(sums.data(), 2 * F + 1);
  const double rows = sums[2 * F];
  if (sync_rows) *sync_rows = rows;
  std::vector<double> var(F);
  for (int64_t c = 0; c < F; ++c) {
    double m = sums[c] / rows;
    double v = std::max(sums[F + c] / rows - m * m, 0.0);
    mean[c] = static_cast<float>((sync ? running_mean[c] : X[c]) + m);
    var[c] = v;
    invstd[c] = static_cast<float>(1.0 / std::sqrt(v + eps));
  }
  // Pass 2 as one scale and shift per column: a = γ·invstd, b = β − μ·a.
  std::vector<float> a(F), b(F);
  for (int64_t c = 0; c < F; ++c) {
    a[c] = (gamma ? gamma[c] : 1.0f) * invstd[c];
    b[c] = (beta ? beta[c] : 0.0f) - mean[c] * a[c];
  }
  scale_shift(X, a.data(), b.data(), Y, batch, F, relu);
  // A failed round (another rank's error) leaves the running statistics alone.
  if (!sync || synced)
    update_running(mean, var.data(), running_mean, running_var, momentum,
                   static_cast<int64_t>(rows), F);
}

void batchnorm_forward_infer(const float* X, const float* gamma, const float* beta,
                             const float* running_mean, const float* running_var, float eps,
                             float* Y, int64_t batch, int64_t F, bool relu) {
  std::vector<float> a(F), b(F);
  for (int64_t c = 0; c < F; ++c) {
    a[c] = static_cast<float>((gamma ? gamma[c] : 1.0f) /
                              std::sqrt(static_cast<double>(running_var[c]) + eps));
    b[c] = (beta ? beta[c] : 0.0f) - running_mean[c] * a[c];
  }
  scale_shift(X, a.data(), b.data(), Y, batch, F, relu);
}

void batchnorm_backward(const float* X, const float* Y, const float* gamma, const float* mean,
                        const float* invstd, const float* dY, float* dX, float* dgamma,
                        float* dbeta, int64_t batch, int64_t F, bool relu, Collective* sync,
                        double sync_rows) {
  std::vector<float> sum_dz(F), sum_dz_xhat(F);
  const int64_t nb = num_blocks(F);
  const bool parallel = batch * F >= kParallelThreshold;
  // Pass 1: the two reductions, dβ = Σ dZ and dγ = Σ dZ·x̂, per column block.
  for_each_index(nb, parallel, [&](int64_t blk) {
    const int64_t c0 = blk * kColBlock, w = std::min(kColBlock, F - c0);
    float sb[kColBlock] = {0}, sg[kColBlock] = {0};
    const float* mu = mean + c0;
    const float* is = invstd + c0;
    for (int64_t r = 0; r < batch; ++r) {
      const float* x = X + r * F + c0;
      const float* y = Y + r * F + c0;
      const float* dy = dY + r * F + c0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) {
        float dz = (!relu || y[j] > 0.0f) ? dy[j] : 0.0f;
        sb[j] += dz;
        sg[j] += dz * (x[j] - mu[j]) * is[j];
      }
    }
    for (int64_t j = 0; j < w; ++j) {
      sum_dz[c0 + j] = sb[j];
      sum_dz_xhat[c0 + j] = sg[j];
    }
  });
  if (dbeta) std::copy(sum_dz.begin(), sum_dz.end(), dbeta);
  if (dgamma) std::copy(sum_dz_xhat.begin(), sum_dz_xhat.end(), dgamma);
  float inv_m = 1.0f / static_cast<float>(batch);
  if (sync) {  // the global batch's sums (one collective, even when dX is not needed)
    std::vector<double> g(2 * F + 1);
    std::copy(sum_dz.begin(), sum_dz.end(), g.begin());
    std::copy(sum_dz_xhat.begin(), sum_dz_xhat.end(), g.begin() + F);
    sync->reduce_doubles(g.data(), 2 * F);
    for (int64_t c = 0; c < F; ++c) {
      sum_dz[c] = static_cast<float>(g[c]);
      sum_dz_xhat[c] = static_cast<float>(g[F + c]);
    }
    inv_m = static_cast<float>(1.0 / sync_rows);
  }
  if (!dX) return;
  // Pass 2: dX = γ·invstd·(dZ − dβ/m − x̂·dγ/m) = A·dZ + B·x + C per column.
  std::vector<float> A(F), B(F), C(F);
  for (int64_t c = 0; c < F; ++c) {
    const float gi = (gamma ? gamma[c] : 1.0f) * invstd[c];
    A[c] = gi;
    B[c] = -gi * invstd[c] * sum_dz_xhat[c] * inv_m;
    C[c] = -gi * sum_dz[c] * inv_m - B[c] * mean[c];
  }
  for_each_index(batch, parallel, [&](int64_t r) {
    const float* x = X + r * F;
    const float* y = Y + r * F;
    const float* dy = dY + r * F;
    float* dx = dX + r * F;
#pragma omp simd
    for (int64_t c = 0; c < F; ++c) {
      float dz = (!relu || y[c] > 0.0f) ? dy[c] : 0.0f;
      dx[c] = A[c] * dz + B[c] * x[c] + C[c];
    }
  });
}

namespace {

// BatchNorm layer. Parameters: weight γ and bias β (when affine), then the buffers
// running_mean and running_var (never written by backward; their gradients stay zero), and,
// for the cumulative average, num_batches_tracked (one float: exact up to 2^24 batches, past
// which a batch's weight 1/n is below float32's resolution of the statistics anyway).
// Workspace: the batch mean and invstd of the last training forward.
class BatchNormLayer : public Layer {
 public:
  explicit BatchNormLayer(const LayerConfig& cfg) {
    in = out = static_cast<int64_t>(cfg.number("features"));
    momentum_ = static_cast<float>(cfg.number("momentum"));
    eps_ = static_cast<float>(cfg.number("eps"));
    affine_ = cfg.number("affine") != 0.0;
    relu_ = cfg.string("activation") == "relu";
    cumulative_ = cfg.number("cumulative") != 0.0;
    gamma_ = {"weight", {in}};
    beta_ = {"bias", {in}};
    rmean_ = {"running_mean", {in}};
    rvar_ = {"running_var", {in}};
    count_ = {"num_batches_tracked", {1}};
  }
  std::vector<ParamDecl*> param_decls() override {
    std::vector<ParamDecl*> v;
    if (affine_) v = {&gamma_, &beta_};
    v.push_back(&rmean_);
    v.push_back(&rvar_);
    if (cumulative_) v.push_back(&count_);
    return v;
  }
  size_t workspace_floats(int64_t) const override { return static_cast<size_t>(2 * in); }
  void forward(const float* X, float* Y, float* ws, int64_t batch,
               const StepContext& ctx) override {
    float* p = ctx.params;
    const float* g = affine_ ? p + gamma_.offset : nullptr;
    const float* b = affine_ ? p + beta_.offset : nullptr;
    if (ctx.training) {
      float momentum = momentum_;
      if (cumulative_) {  // torch: num_batches_tracked += 1, factor = 1 / num_batches_tracked
        float& n = p[count_.offset];
        n += 1.0f;
        momentum = 1.0f / n;
      }
      batchnorm_forward_train(X, g, b, Y, ws, ws + in, p + rmean_.offset, p + rvar_.offset,
                              momentum, eps_, batch, in, relu_, sync(ctx), &sync_rows_);
    } else
      batchnorm_forward_infer(X, g, b, p + rmean_.offset, p + rvar_.offset, eps_, Y, batch, in,
                              relu_);
  }
  void backward(const float* X, const float* Y, float* dY, float* dX, float* ws, int64_t batch,
                const StepContext& ctx) override {
    batchnorm_backward(X, Y, affine_ ? ctx.params + gamma_.offset : nullptr, ws, ws + in, dY, dX,
                       affine_ ? ctx.grads + gamma_.offset : nullptr,
                       affine_ ? ctx.grads + beta_.offset : nullptr, batch, in, relu_, sync(ctx),
                       sync_rows_);
  }

  InferenceRole inference_role() const override {
    InferenceRole r;
    r.kind = InferenceRole::BatchNorm;
    r.gamma = affine_ ? &gamma_ : nullptr;
    r.bias = affine_ ? &beta_ : nullptr;
    r.mean = &rmean_;
    r.var = &rvar_;
    r.eps = eps_;
    r.act = relu_ ? ActKind::ReLU : ActKind::None;
    return r;
  }

 private:
  // Data-parallel training with synchronised statistics (engine/collective.h), else null.
  static Collective* sync(const StepContext& ctx) {
    return ctx.collective && ctx.collective->sync_bn ? ctx.collective : nullptr;
  }
  float momentum_ = 0.1f, eps_ = 1e-5f;
  bool affine_ = true, relu_ = false, cumulative_ = false;
  double sync_rows_ = 0.0;  // global batch rows of the last synchronised forward
  ParamDecl gamma_, beta_, rmean_, rvar_, count_;
};

ComponentInfo info() {
  ComponentInfo i;
  i.name = "batchnorm";
  i.doc = "Batch normalization (Ioffe & Szegedy 2015) with torch.nn.BatchNorm1d conventions.";
  i.params = {required_int("features", "Width of the input and the output.").at_least(1),
              float_param("momentum", 0.1, "Weight of the batch statistic in the running update.")
                  .at_least(0.0)
                  .at_most(1.0),
              bool_param("cumulative", false,
                         "Cumulative average (torch momentum=None): batch n weighs 1/n, so the "
                         "running statistics average every training batch; momentum is unused."),
              float_param("eps", 1e-5, "Added to the variance.").above(0.0),
              bool_param("affine", true, "Learned weight and bias."),
              str_param("activation", "none", "Fused activation (a following ReLU layer).")
                  .one_of({"none", "relu"})};
  i.caps = {
      {"batch_statistics", true},
      {"buffers", std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}}};
  return i;
}

const LayerRegistrar registrar(info(), [](const LayerConfig& cfg) -> std::unique_ptr<Layer> {
  return std::make_unique<BatchNormLayer>(cfg);
});

}  // namespace

}  // namespace fastnet

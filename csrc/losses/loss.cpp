// Losses: value and d(mean loss)/d(pred) in one sweep, double accumulation.
//
// Formulas follow Keras 3 (keras/src/losses/losses.py, keras/src/backend/*/nn.py) with
// epsilon = 1e-7 (keras.backend.epsilon()); PyTorch conventions where Keras is silent
// (subgradient sign(0) = 0). Reductions: element-wise losses average over rows*cols,
// per-sample losses sum over cols and average over rows. Kinks (max, clip, |.|) take the
// gradient of the branch that is selected, and clipped values get a zero gradient, as
// autodiff through Keras' clip/maximum would give.
#include "losses/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/parallel.h"

namespace fastnet {
namespace {

constexpr double kEps = 1e-7;         // keras.backend.epsilon()
constexpr double kCosineEps = 1e-12;  // tf.math.l2_normalize: x * rsqrt(max(sum x^2, 1e-12))

// Sum of body(i) for i in [0, n): on the pool only when the whole problem is large enough
// (common.h: kParallelThreshold), as one partial per fixed range added in range order (the
// same result however the pool was used); small batches stay on the calling thread.
// `omp simd` lets the compiler vectorize the double reduction.
template <class Body>
inline double sum_over(int64_t n, bool parallel, Body&& body) {
  const int parts = parallel ? max_threads() : 1;
  auto range_sum = [&](int64_t begin, int64_t end) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = begin; i < end; ++i) s += body(i);
    return s;
  };
  if (parts <= 1) return range_sum(0, n);
  std::vector<double> partial(static_cast<size_t>(parts), 0.0);
  for_each_range_on(n, parts, [&](int part, int64_t begin, int64_t end) {
    partial[static_cast<size_t>(part)] = range_sum(begin, end);
  });
  double sum = 0.0;
  for (double v : partial) sum += v;
  return sum;
}

// Element-wise loss with sample weights (one per row of `cols` elements): the weighted mean
// sum_i w_i (sum_j e_ij / cols) / sum_i w_i; grad receives g w_i / (cols sum_i w_i).
template <class Op>
double elementwise_weighted(const float* pred, const float* target, float* grad, int64_t n,
                            int64_t cols, const float* weights, bool parallel, Op op) {
  const double wsum = weight_sum(weights, n / cols);
  const double inv = wsum > 0.0 ? 1.0 / (wsum * static_cast<double>(cols)) : 0.0;
  const double sum = sum_over(n, parallel, [&](int64_t i) {
    double g;
    const double w = weights[i / cols];
    const double v = op(static_cast<double>(pred[i]), static_cast<double>(target[i]), g);
    if (grad) grad[i] = static_cast<float>(g * w * inv);
    return w != 0.0 ? w * v : 0.0;  // a zero weight drops the row, even an infinite loss
  });
  return sum * inv;
}

// Element-wise loss: op(p, t, g) returns the loss of one element and sets g = dloss/dp.
// Returns the mean over n elements; grad (if any) receives g / n.
template <class Op>
double elementwise(const float* pred, const float* target, float* grad, int64_t n, int64_t cols,
                   const float* weights, bool parallel, Op op) {
  if (weights) return elementwise_weighted(pred, target, grad, n, cols, weights, parallel, op);
  const double inv_n = 1.0 / static_cast<double>(n);
  double sum;
  if (grad) {
    sum = sum_over(n, parallel, [&](int64_t i) {
      double g;
      const double v = op(static_cast<double>(pred[i]), static_cast<double>(target[i]), g);
      grad[i] = static_cast<float>(g * inv_n);
      return v;
    });
  } else {
    sum = sum_over(n, parallel, [&](int64_t i) {
      double g;
      return op(static_cast<double>(pred[i]), static_cast<double>(target[i]), g);
    });
  }
  return sum * inv_n;
}

inline double sign_of(double x) { return static_cast<double>((x > 0.0) - (x < 0.0)); }

// ---- per-sample (row) losses: each returns the row's loss and, if g is non-null, writes
// ---- d(row loss)/d(pred row) * scale into g (scale = 1/rows).

// Categorical cross-entropy on logits (tf.nn.softmax_cross_entropy_with_logits,
// torch.nn.functional.cross_entropy with probability targets):
//   loss = sum_j t_j (lse - x_j),  grad_j = softmax_j * sum(t) - t_j.
double cce_logits_row(const float* x, const float* t, float* g, int64_t cols, double scale) {
  double m = x[0];
  for (int64_t j = 1; j < cols; ++j) m = std::max(m, static_cast<double>(x[j]));
  // loss = sum(t) log(sum_exp) + t_gap, t_gap = sum_j t_j (m - x_j): no lse - x cancellation
  double sum_exp = 0.0, sum_t = 0.0, t_gap = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double z = static_cast<double>(x[j]) - m;
    const double e = std::exp(z);
    sum_exp += e;
    sum_t += t[j];
    t_gap -= t[j] * z;
    if (g) g[j] = static_cast<float>(e);  // stash exp(x - m); the row is still in L1
  }
  if (g) {
    const double a = sum_t / sum_exp * scale;
    for (int64_t j = 0; j < cols; ++j)
      g[j] = static_cast<float>(static_cast<double>(g[j]) * a - t[j] * scale);
  }
  return sum_t * std::log(sum_exp) + t_gap;
}

// Categorical cross-entropy on probabilities, Keras: q = p / sum(p), q clipped to
// [eps, 1-eps], loss = -sum_j t_j log q_j. With s = sum(p) and dL/dq_j = -t_j/q_j on
// unclipped entries (0 on clipped ones), the chain rule through q = p/s gives
//   dL/dp_k = (dL/dq_k - sum_j dL/dq_j q_j) / s = dL/dq_k / s + T / s,
// where T = sum of t_j over unclipped j.
double cce_probs_row(const float* p, const float* t, float* g, int64_t cols, double scale) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += p[j];
  const double inv_s = 1.0 / s;
  double loss = 0.0, t_unclipped = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double q = p[j] * inv_s;
    const bool inside = q >= kEps && q <= 1.0 - kEps;
    loss -= t[j] * std::log(std::clamp(q, kEps, 1.0 - kEps));
    if (inside) t_unclipped += t[j];
  }
  if (g) {
    const double base = t_unclipped * inv_s;
    for (int64_t j = 0; j < cols; ++j) {
      const double q = p[j] * inv_s;
      const bool inside = q >= kEps && q <= 1.0 - kEps;
      const double dq = inside ? -t[j] / q : 0.0;
      g[j] = static_cast<float>((dq * inv_s + base) * scale);
    }
  }
  return loss;
}

// Sparse categorical cross-entropy on logits: loss = lse - x_y, grad = softmax - onehot(y).
double sparse_logits_row(const float* x, int32_t y, float* g, int64_t cols, double scale) {
  double m = x[0];
  for (int64_t j = 1; j < cols; ++j) m = std::max(m, static_cast<double>(x[j]));
  double sum_exp = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double e = std::exp(static_cast<double>(x[j]) - m);
    sum_exp += e;
    if (g) g[j] = static_cast<float>(e);
  }
  if (g) {
    const double a = scale / sum_exp;
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>(static_cast<double>(g[j]) * a);
    g[y] = static_cast<float>(static_cast<double>(g[y]) - scale);
  }
  return std::log(sum_exp) + (m - static_cast<double>(x[y]));
}

// Sparse categorical cross-entropy on probabilities (Keras: normalize, clip, log):
// cce_probs_row with a one-hot target.
double sparse_probs_row(const float* p, int32_t y, float* g, int64_t cols, double scale) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += p[j];
  const double inv_s = 1.0 / s;
  const double q = p[y] * inv_s;
  const bool inside = q >= kEps && q <= 1.0 - kEps;
  if (g) {
    const double base = inside ? inv_s * scale : 0.0;
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>(base);
    if (inside) g[y] = static_cast<float>((-1.0 / q * inv_s + inv_s) * scale);
  }
  return -std::log(std::clamp(q, kEps, 1.0 - kEps));
}

// Categorical hinge (Keras): pos = sum t*p, neg = max_j (1 - t_j) p_j,
// loss = max(neg - pos + 1, 0). Ties in the max go to the first index.
double categorical_hinge_row(const float* p, const float* t, float* g, int64_t cols, double scale) {
  double pos = 0.0, neg = -INFINITY;
  int64_t arg = 0;
  for (int64_t j = 0; j < cols; ++j) {
    pos += static_cast<double>(t[j]) * p[j];
    const double v = (1.0 - t[j]) * static_cast<double>(p[j]);
    if (v > neg) {
      neg = v;
      arg = j;
    }
  }
  const double margin = neg - pos + 1.0;
  if (g) {
    if (margin > 0.0) {
      for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>(-t[j] * scale);
      g[arg] = static_cast<float>((1.0 - t[arg] - t[arg]) * scale);
    } else {
      for (int64_t j = 0; j < cols; ++j) g[j] = 0.0f;
    }
  }
  return margin > 0.0 ? margin : 0.0;
}

// KL divergence (Keras): t, p clipped to [eps, 1]; loss = sum_j t_j log(t_j / p_j).
// PyTorch equivalent: F.kl_div(log p, t, reduction="batchmean").
double kl_row(const float* p, const float* t, float* g, int64_t cols, double scale) {
  double loss = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double pj = p[j];
    const double tc = std::clamp(static_cast<double>(t[j]), kEps, 1.0);
    const double pc = std::clamp(pj, kEps, 1.0);
    loss += tc * std::log(tc / pc);
    if (g) g[j] = static_cast<float>((pj >= kEps && pj <= 1.0) ? -tc / pc * scale : 0.0);
  }
  return loss;
}

// Cosine similarity loss (Keras): -sum(l2_normalize(t) * l2_normalize(p)), with
// l2_normalize(x) = x / sqrt(max(sum x^2, 1e-12)) (tf.math.l2_normalize).
//   dL/dp_j = -t_j / (|t| |p|) + cos * p_j / |p|^2  (second term only when |p|^2 > 1e-12).
double cosine_row(const float* p, const float* t, float* g, int64_t cols, double scale) {
  double pp = 0.0, tt = 0.0, tp = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double pj = p[j], tj = t[j];
    pp += pj * pj;
    tt += tj * tj;
    tp += tj * pj;
  }
  const double inv_np = 1.0 / std::sqrt(std::max(pp, kCosineEps));
  const double inv_nt = 1.0 / std::sqrt(std::max(tt, kCosineEps));
  const double cos = tp * inv_nt * inv_np;
  if (g) {
    const double a = -inv_nt * inv_np * scale;
    const double b = pp > kCosineEps ? cos * inv_np * inv_np * scale : 0.0;
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>(a * t[j] + b * p[j]);
  }
  return -cos;
}

// Per-sample loss: the (weighted) mean over rows of row_loss(r, gradient row or null, scale),
// scale = w_r / sum(w) (1/rows without weights).
template <class RowLoss>
double mean_over_rows(float* grad, const float* weights, int64_t rows, int64_t cols, bool parallel,
                      RowLoss row_loss) {
  if (!weights) {
    const double inv_rows = 1.0 / static_cast<double>(rows);
    const double sum = sum_over(rows, parallel, [&](int64_t r) {
      return row_loss(r, grad ? grad + r * cols : nullptr, inv_rows);
    });
    return sum * inv_rows;
  }
  const double wsum = weight_sum(weights, rows);
  const double inv = wsum > 0.0 ? 1.0 / wsum : 0.0;
  const double sum = sum_over(rows, parallel, [&](int64_t r) {
    const double w = weights[r];
    const double v = row_loss(r, grad ? grad + r * cols : nullptr, w * inv);
    return w != 0.0 ? w * v : 0.0;
  });
  return sum * inv;
}

// Dense targets: row_fn(pred row, target row, grad row, cols, scale).
template <class RowFn>
double per_sample(const float* pred, const float* target, float* grad, int64_t rows, int64_t cols,
                  const float* weights, bool parallel, RowFn row_fn) {
  return mean_over_rows(grad, weights, rows, cols, parallel,
                        [&](int64_t r, float* g, double scale) {
                          return row_fn(pred + r * cols, target + r * cols, g, cols, scale);
                        });
}

// Integer labels: row_fn(pred row, label, grad row, cols, scale).
template <class RowFn>
double per_sample_sparse(const float* pred, const int32_t* labels, float* grad, int64_t rows,
                         int64_t cols, const float* weights, bool parallel, RowFn row_fn) {
  return mean_over_rows(grad, weights, rows, cols, parallel,
                        [&](int64_t r, float* g, double scale) {
                          return row_fn(pred + r * cols, labels[r], g, cols, scale);
                        });
}

}  // namespace

double weight_sum(const float* weights, int64_t rows) {
  if (!weights) return static_cast<double>(rows);
  double s = 0.0;
  for (int64_t r = 0; r < rows; ++r) s += weights[r];
  return s;
}

double loss_forward_backward(LossKind kind, const LossParams& p, const float* pred,
                             const float* target, const int32_t* labels, float* grad, int64_t rows,
                             int64_t cols, const float* weights) {
  if (rows <= 0 || cols <= 0)
    throw std::invalid_argument("loss: empty batch (rows and cols must be positive)");
  if (!pred) throw std::invalid_argument("loss: pred is null");
  const bool sparse = kind == LossKind::SparseCategoricalCrossentropy;
  if (sparse) {
    if (!labels) throw std::invalid_argument("sparse_categorical_crossentropy: labels are null");
    // Checked up front, serially: an exception must not escape from a pool chunk half-way.
    for (int64_t r = 0; r < rows; ++r)
      if (labels[r] < 0 || labels[r] >= cols)
        throw std::out_of_range("sparse_categorical_crossentropy: label " +
                                std::to_string(labels[r]) + " at row " + std::to_string(r) +
                                " is outside [0, " + std::to_string(cols) + ")");
  } else if (!target) {
    throw std::invalid_argument("loss: target is null");
  }
  if (weights)  // checked serially for the same reason
    for (int64_t r = 0; r < rows; ++r)
      if (!(weights[r] >= 0.0f) || !std::isfinite(weights[r]))
        throw std::invalid_argument("loss: sample weight at row " + std::to_string(r) +
                                    " is negative or not finite");

  const int64_t n = rows * cols;
  const bool parallel = n >= kParallelThreshold;

  switch (kind) {
    case LossKind::MSE:  // mean((p - t)^2)
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double e = x - t;
                           g = 2.0 * e;
                           return e * e;
                         });
    case LossKind::MAE:  // mean|p - t|; subgradient sign(0) = 0 as in torch.nn.L1Loss
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double e = x - t;
                           g = sign_of(e);
                           return std::fabs(e);
                         });
    case LossKind::Huber: {  // Keras / torch.nn.HuberLoss: quadratic for |e| <= delta
      const double d = p.delta;
      if (!(d > 0.0) || !std::isfinite(d))
        throw std::invalid_argument("huber: delta must be a positive finite number");
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [d](double x, double t, double& g) {
                           const double e = x - t;
                           const double a = std::fabs(e);
                           if (a <= d) {
                             g = e;
                             return 0.5 * e * e;
                           }
                           g = d * sign_of(e);
                           return d * a - 0.5 * d * d;
                         });
    }
    case LossKind::LogCosh:
      // Keras: log(cosh(x)) = |x| + log1p(exp(-2|x|)) - log 2, grad tanh(x). With
      // m = expm1(-2|x|) this is |x| + log1p(m / 2) and tanh(|x|) = -m / (2 + m): two
      // transcendentals, no overflow, no cancellation against log 2 for small x.
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double e = x - t;
                           const double a = std::fabs(e);
                           const double m = std::expm1(-2.0 * a);
                           g = std::copysign(-m / (2.0 + m), e);
                           return a + std::log1p(0.5 * m);
                         });
    case LossKind::MAPE:  // Keras: 100 * mean(|t - p| / max(|t|, eps))
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double e = x - t;
                           const double w = 100.0 / std::max(std::fabs(t), kEps);
                           g = w * sign_of(e);
                           return w * std::fabs(e);
                         });
    case LossKind::MSLE:  // Keras: mean((log(max(p, eps) + 1) - log(max(t, eps) + 1))^2)
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double lp = std::log1p(std::max(x, kEps));
                           const double lt = std::log1p(std::max(t, kEps));
                           const double d = lp - lt;
                           g = x >= kEps ? 2.0 * d / (1.0 + x) : 0.0;
                           return d * d;
                         });
    case LossKind::Hinge:  // Keras: mean(max(1 - t p, 0)), t in {-1, 1}; t == 0 maps to -1
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double y = t == 0.0 ? -1.0 : t;
                           const double m = 1.0 - y * x;
                           g = m > 0.0 ? -y : 0.0;
                           return m > 0.0 ? m : 0.0;
                         });
    case LossKind::SquaredHinge:  // Keras: mean(max(1 - t p, 0)^2)
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double y = t == 0.0 ? -1.0 : t;
                           const double m = std::max(1.0 - y * x, 0.0);
                           g = -2.0 * y * m;
                           return m * m;
                         });
    case LossKind::BinaryCrossentropy:
      if (p.from_logits)  // tf.nn.sigmoid_cross_entropy_with_logits: max(x,0) - x t + log1p(e^-|x|)
        return elementwise(
            pred, target, grad, n, cols, weights, parallel, [](double x, double t, double& g) {
              const double u = std::exp(-std::fabs(x));  // shared by the loss and sigmoid(x)
              g = (x >= 0.0 ? 1.0 : u) / (1.0 + u) - t;
              return std::max(x, 0.0) - x * t + std::log1p(u);
            });
      // Keras on probabilities: q = clip(p, eps, 1 - eps); -(t log q + (1 - t) log(1 - q))
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           const double q = std::clamp(x, kEps, 1.0 - kEps);
                           g = (x >= kEps && x <= 1.0 - kEps) ? (q - t) / (q * (1.0 - q)) : 0.0;
                           return -(t * std::log(q) + (1.0 - t) * std::log1p(-q));
                         });
    case LossKind::Poisson:  // Keras: mean(p - t log(p + eps)); torch
                             // poisson_nll_loss(log_input=False)
      return elementwise(pred, target, grad, n, cols, weights, parallel,
                         [](double x, double t, double& g) {
                           g = 1.0 - t / (x + kEps);
                           return x - t * std::log(x + kEps);
                         });
    case LossKind::CategoricalCrossentropy:
      return per_sample(pred, target, grad, rows, cols, weights, parallel,
                        p.from_logits ? cce_logits_row : cce_probs_row);
    case LossKind::SparseCategoricalCrossentropy:
      return per_sample_sparse(pred, labels, grad, rows, cols, weights, parallel,
                               p.from_logits ? sparse_logits_row : sparse_probs_row);
    case LossKind::CategoricalHinge:
      return per_sample(pred, target, grad, rows, cols, weights, parallel, categorical_hinge_row);
    case LossKind::KLDivergence:
      return per_sample(pred, target, grad, rows, cols, weights, parallel, kl_row);
    case LossKind::CosineSimilarity:
      return per_sample(pred, target, grad, rows, cols, weights, parallel, cosine_row);
  }
  throw std::invalid_argument("loss: unknown LossKind " + std::to_string(static_cast<int>(kind)));
}

}  // namespace fastnet

// Epochs in C++: minibatch gathering, steps, schedule factors and running statistics, with
// no return to Python between steps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <vector>

#include "engine/model.h"
#include "optim/optimizer.h"

namespace fastnet {

namespace {

// Accuracy hits. Binary cross-entropy: per element, output above the threshold (0.5 for
// probabilities, 0 for logits: the same decision) against target > 0.5, as Keras'
// binary_accuracy; a one-output model is binary classification, several outputs are
// independent labels (the caller divides by rows * cols). Otherwise row-wise argmax hits
// against class labels or against the argmax of float targets.
int64_t count_correct(const float* out, int64_t rows, int64_t cols, const float* target,
                      const int32_t* labels, LossKind loss, const LossParams& lp) {
  if (loss == LossKind::BinaryCrossentropy && target) {
    const float threshold = lp.from_logits ? 0.0f : 0.5f;
    int64_t hits = 0;
    for (int64_t i = 0; i < rows * cols; ++i) hits += (out[i] > threshold) == (target[i] > 0.5f);
    return hits;
  }
  if (cols < 2 || (!labels && !target)) return 0;
  int64_t hits = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* o = out + r * cols;
    int64_t best = std::max_element(o, o + cols) - o;
    int64_t truth;
    if (labels) {
      truth = labels[r];
    } else {
      const float* t = target + r * cols;
      truth = std::max_element(t, t + cols) - t;
    }
    hits += best == truth;
  }
  return hits;
}

}  // namespace

int64_t Model::epoch_batches(int64_t n, int64_t batch_size, bool absorb_single) {
  int64_t full = (n + batch_size - 1) / batch_size;
  // Batch statistics need two rows: one leftover row joins the previous batch.
  if (absorb_single && n > batch_size && n % batch_size == 1) --full;
  return full;
}

void Model::fit_batches(const float* X, int64_t n, const float* target, const int32_t* labels,
                        const int64_t* order, int64_t batch_size, int64_t first_batch,
                        int64_t num_batches, LossKind loss, const LossParams& lp, Optimizer* opt,
                        const float* slot_base_lrs, const float* lr_factors, bool stop_on_nonfinite,
                        FitStats& st, const StopCheck* stop, const float* weights, int64_t x_rows) {
  std::lock_guard<std::mutex> fit_lock(fit_mutex);
  const int64_t in = in_features(), cols = out_features();
  if (x_rows < 0) x_rows = n;
  for (int64_t i = 0; i < n; ++i)
    if (order[i] < 0 || order[i] >= x_rows) throw std::out_of_range("row order index out of range");
  const int64_t total = epoch_batches(n, batch_size, batch_statistics());
  const int64_t cap = batch_size + 1;  // the last batch may absorb a single leftover row
  fit_x_.resize(static_cast<size_t>(cap * in));
  if (target) fit_t_.resize(static_cast<size_t>(cap * cols));
  if (labels) fit_l_.resize(static_cast<size_t>(cap));
  std::vector<float> wb(weights ? static_cast<size_t>(cap) : 0);  // gathered sample weights
  for (int64_t b = 0; b < num_batches; ++b) {
    if (stop && b > 0 && (*stop)()) break;  // between steps: the model is whole
    const int64_t gb = first_batch + b;
    if (gb >= total) break;
    const int64_t start = gb * batch_size;
    // The last partial batch is kept, not dropped; it runs to the end of the epoch.
    const int64_t rows = gb == total - 1 ? n - start : batch_size;
    const int64_t* idx = order + start;
    float* xb = fit_x_.data();
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(xb + r * in, X + idx[r] * in, sizeof(float) * in);
    float* tb = nullptr;
    int32_t* lb = nullptr;
    if (target) {
      tb = fit_t_.data();
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(tb + r * cols, target + idx[r] * cols, sizeof(float) * cols);
    }
    if (labels) {
      lb = fit_l_.data();
      for (int64_t r = 0; r < rows; ++r) lb[r] = labels[idx[r]];
    }
    if (weights)
      for (int64_t r = 0; r < rows; ++r) wb[static_cast<size_t>(r)] = weights[idx[r]];
    const float* wp = weights ? wb.data() : nullptr;
    if (opt && lr_factors) {
      const float f = lr_factors[b];
      for (size_t k = 0; k < opt->slots.size(); ++k) opt->slots[k].set_lr(slot_base_lrs[k] * f);
    }
    double gnorm = 0.0, value;
    int64_t hits;
    {
      // One step at a time: predictions from other threads run between steps.
      std::unique_lock<std::shared_mutex> lock(mutex);
      value = train_step(xb, rows, tb, lb, loss, lp, opt, &gnorm, wp);
      hits = count_correct(last_output(), rows, cols, tb, lb, loss, lp);
    }
    const double batch_weight = weight_sum(wp, rows);
    st.loss_sum += value * batch_weight;
    st.weight_sum += batch_weight;
    st.samples += rows;
    st.correct += hits;
    ++st.steps;
    st.last_gnorm = gnorm;
    if (std::isfinite(gnorm))
      st.gnorm_sum += gnorm;
    else {
      ++st.nonfinite;
      if (stop_on_nonfinite) break;
    }
  }
}

namespace {

// Runs body(start, rows) over [0, n) in chunks of `chunk` rows with one borrowed workspace,
// checking `stop` between chunks; returns false when it stopped early.
template <class Body>
bool over_chunks(int64_t n, int64_t chunk, const StopCheck* stop, Body&& body) {
  for (int64_t start = 0; start < n; start += chunk) {
    if (stop && start > 0 && (*stop)()) return false;
    body(start, std::min(chunk, n - start));
  }
  return true;
}

}  // namespace

bool Model::evaluate(const float* X, int64_t n, const float* target, const int32_t* labels,
                     int64_t batch_size, LossKind loss, const LossParams& lp, double* loss_sum,
                     int64_t* correct, const StopCheck* stop, const float* weights) {
  const int64_t in = in_features(), cols = out_features();
  auto ws = borrow_workspace();
  double total = 0.0;
  int64_t hits = 0;
  const bool finished =
      over_chunks(n, infer_rows(batch_size), stop, [&](int64_t start, int64_t rows) {
        const float* tb = target ? target + start * cols : nullptr;
        const int32_t* lb = labels ? labels + start : nullptr;
        const float* wp = weights ? weights + start : nullptr;
        std::shared_lock<std::shared_mutex> lock(mutex);
        const float* out = infer(X + start * in, rows, *ws);
        total += loss_forward_backward(loss, lp, out, tb, lb, nullptr, rows, cols, wp) *
                 weight_sum(wp, rows);
        hits += count_correct(out, rows, cols, tb, lb, loss, lp);
      });
  return_workspace(std::move(ws));
  *loss_sum = total;
  *correct = hits;
  return finished;
}

bool Model::predict(const float* X, int64_t n, int64_t batch_size, float* out,
                    const StopCheck* stop) {
  const int64_t in = in_features(), cols = out_features();
  auto ws = borrow_workspace();
  const bool finished =
      over_chunks(n, infer_rows(batch_size), stop, [&](int64_t start, int64_t rows) {
        std::shared_lock<std::shared_mutex> lock(mutex);
        const float* y = infer(X + start * in, rows, *ws);
        std::memcpy(out + start * cols, y, sizeof(float) * rows * cols);
      });
  return_workspace(std::move(ws));
  return finished;
}

}  // namespace fastnet

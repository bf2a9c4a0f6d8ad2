// MC dropout (Gal & Ghahramani 2016, "Dropout as a Bayesian Approximation"): the predictive
// mean and spread of T stochastic forward passes with dropout on. Each pass is an inference
// pass (BatchNorm normalizes with its running statistics and updates nothing) in which the
// dropout layers draw masks from their own stream: key (mc_seed, layer index, pass), counter
// the element's index in the whole input. The training stream (Model::seed, step) is not
// touched, and the result does not depend on the chunk size.
#include <algorithm>
#include <cmath>
#include <shared_mutex>
#include <vector>

#include "engine/model.h"

namespace fastnet {

bool Model::predict_mc(const float* X, int64_t n, int64_t batch_size, int64_t samples,
                       uint64_t mc_seed, float* mean, float* stdev, const StopCheck* stop) {
  if (!built_) throw std::logic_error("model not built");
  if (samples < 1) throw std::invalid_argument("n_samples must be >= 1");
  const int64_t in = in_features(), cols = out_features();
  const int64_t chunk = infer_rows(batch_size);
  auto ws = borrow_workspace();
  ensure_workspace(*ws, std::min(chunk, n), false);
  // Welford's running mean and sum of squared deviations, in double, per output element.
  std::vector<double> m, m2;
  bool finished = true;
  for (int64_t start = 0; start < n && finished; start += chunk) {
    const int64_t rows = std::min(chunk, n - start);
    m.assign(static_cast<size_t>(rows * cols), 0.0);
    m2.assign(m.size(), 0.0);
    for (int64_t s = 0; s < samples; ++s) {
      if (stop && (start > 0 || s > 0) && (*stop)()) {
        finished = false;
        break;
      }
      std::shared_lock<std::shared_mutex> lock(mutex);
      StepContext ctx;
      ctx.params = params_.data();
      ctx.training = false;
      ctx.mc_dropout = true;
      ctx.seed = mc_seed;
      ctx.step = static_cast<uint64_t>(s);
      ctx.row0 = start;
      const float* x = X + start * in;
      for (size_t i = 0; i < layers_.size(); ++i) {
        float* y = ws->acts[i + 1].data();
        layers_[i]->forward(x, y, ws->layer_ws[i].data(), rows, ctx);
        x = y;
      }
      const double k = static_cast<double>(s + 1);
      for (size_t j = 0; j < m.size(); ++j) {
        const double d = x[j] - m[j];
        m[j] += d / k;
        m2[j] += d * (x[j] - m[j]);
      }
    }
    if (!finished) break;
    for (size_t j = 0; j < m.size(); ++j) {
      mean[start * cols + static_cast<int64_t>(j)] = static_cast<float>(m[j]);
      stdev[start * cols + static_cast<int64_t>(j)] =
          static_cast<float>(std::sqrt(m2[j] / static_cast<double>(samples)));
    }
  }
  return_workspace(std::move(ws));
  return finished;
}

}  // namespace fastnet

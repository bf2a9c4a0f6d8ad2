#include "bind/common.h"

#include <cmath>

namespace fastnet::bind {

int64_t batch_rows(const FArray& a, int64_t cols, const char* name) {
  if (a.ndim() != 2) throw py::value_error(std::string(name) + " must be 2-D");
  if (a.shape(1) != cols)
    throw py::value_error(std::string(name) + " has " + std::to_string(a.shape(1)) +
                          " columns, expected " + std::to_string(cols));
  if (a.shape(0) <= 0) throw py::value_error(std::string(name) + " is an empty batch");
  return a.shape(0);
}

LossSettings loss_settings_of(const std::string& loss, double delta, bool from_logits) {
  const LossEntry& e = loss_entry(loss);
  Settings values;
  if (e.info.param("delta")) values.num["delta"] = delta;
  if (e.info.param("from_logits")) values.num["from_logits"] = from_logits ? 1.0 : 0.0;
  return loss_settings(e.info.name, values);
}

LossTarget loss_target(const py::object& target, const py::object& labels, LossKind kind,
                       int64_t batch, int64_t cols) {
  LossTarget t;
  if (kind == LossKind::SparseCategoricalCrossentropy) {
    t.larr = py::cast<IArray>(labels);
    if (t.larr.ndim() != 1 || t.larr.shape(0) != batch)
      throw py::value_error("labels must be 1-D with one label per row");
    t.labels = t.larr.data();
  } else {
    t.tarr = py::cast<FArray>(target);
    if (t.tarr.ndim() != 2 || t.tarr.shape(0) != batch || t.tarr.shape(1) != cols)
      throw py::value_error("target shape does not match the model output");
    t.target = t.tarr.data();
  }
  return t;
}

const float* sample_weights(const py::object& weights, FArray& holder, int64_t rows) {
  if (weights.is_none()) return nullptr;
  holder = py::cast<FArray>(weights);
  if (holder.ndim() != 1 || holder.shape(0) != rows)
    throw py::value_error("sample weights must be 1-D with one weight per row");
  const float* w = holder.data();
  for (int64_t r = 0; r < rows; ++r)
    if (!(w[r] >= 0.0f) || !std::isfinite(w[r]))
      throw py::value_error("sample weights must be finite and non-negative");
  return w;
}

py::array_t<float> arena_view(py::object self, float* base, size_t floats, size_t offset,
                              const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw py::value_error("negative dimension in view shape");
    if (d != 0 && n > floats / static_cast<size_t>(d))
      throw py::value_error("view outside the arena");
    n *= static_cast<size_t>(d);
  }
  if (offset > floats || n > floats - offset) throw py::value_error("view outside the arena");
  std::vector<py::ssize_t> shp(shape.begin(), shape.end());
  std::vector<py::ssize_t> strides(shp.size());
  py::ssize_t s = sizeof(float);
  for (size_t i = shp.size(); i-- > 0;) {
    strides[i] = s;
    s *= shp[i];
  }
  return py::array_t<float>(shp, strides, base + offset, self);
}

SignalCheck::SignalCheck() : last_(std::chrono::steady_clock::now()) {
  fn_ = [this]() { return poll(); };
}

bool SignalCheck::poll() {
  if (!main_thread_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(kIntervalMs)) return false;
  last_ = now;
  py::gil_scoped_acquire gil;
  if (!checked_main_) {
    checked_main_ = true;
    py::object main = py::module_::import("threading").attr("main_thread")();
    main_thread_ = py::cast<unsigned long>(main.attr("ident")) == PyThread_get_thread_ident();
    if (!main_thread_) return false;
  }
  if (PyErr_CheckSignals() != 0) {
    error_ = std::make_unique<py::error_already_set>();
    return true;
  }
  return false;
}

}  // namespace fastnet::bind

// Helpers shared by the binding files (csrc/bind/*.cpp): array types, the one batch check, the
// one loss-settings path, arena views, and the signal check of long calls. Python validates
// every input first (fastnet/_validate.py); these are the last line of defence before raw
// pointers.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"
#include "losses/loss.h"

namespace fastnet::bind {

namespace py = pybind11;

using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IArray = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

// Rows of a 2-D batch `a` with `cols` columns (ValueError naming `name` otherwise).
int64_t batch_rows(const FArray& a, int64_t cols, const char* name);

// The loss settings of a call that passes huber's delta and from_logits for every loss: the
// values the loss's registry entry has are checked and used, the others do not apply to it.
LossSettings loss_settings_of(const std::string& loss, double delta, bool from_logits);

// (Hidden like pybind11's own types: these hold Python objects.)
// Loss target: float targets of the output's shape, or int32 labels of length batch.
struct __attribute__((visibility("hidden"))) LossTarget {
  const float* target = nullptr;
  const int32_t* labels = nullptr;
  FArray tarr;
  IArray larr;
};
LossTarget loss_target(const py::object& target, const py::object& labels, LossKind kind,
                       int64_t batch, int64_t cols);

// Sample weights: None (null) or a 1-D float32 array of `rows` finite, non-negative values
// (ValueError otherwise); `holder` keeps the converted array alive.
const float* sample_weights(const py::object& weights, FArray& holder, int64_t rows);

// A view of [offset, offset + prod(shape)) of an arena of `floats` floats owned by `self`,
// refusing negative dimensions, a product that overflows, and anything past the end.
py::array_t<float> arena_view(py::object self, float* base, size_t floats, size_t offset,
                              const std::vector<int64_t>& shape);

// Lets a long call (fit, predict, evaluate over many chunks) notice Ctrl-C and other signals
// while the GIL is released: between steps or chunks, at most every kIntervalMs, the main
// thread takes the GIL and runs Python's signal handlers. A handler that raises (SIGINT's
// KeyboardInterrupt) stops the call at that boundary, so the model is left whole, and the
// exception is raised when the call returns. Other threads never receive signals in Python:
// they skip the check after the first look.
class __attribute__((visibility("hidden"))) SignalCheck {
 public:
  static constexpr int kIntervalMs = 20;
  SignalCheck();
  const StopCheck* get() const { return &fn_; }
  bool stopped() const { return error_ != nullptr; }
  // The handler's exception (with the GIL held): raised here, or handed to Python.
  [[noreturn]] void raise() { throw std::move(*error_); }
  py::object exception() const { return error_ ? error_->value() : py::none(); }

 private:
  bool poll();
  std::chrono::steady_clock::time_point last_;
  bool main_thread_ = true, checked_main_ = false;
  std::unique_ptr<py::error_already_set> error_;
  StopCheck fn_;
};

// The binding of each concept (csrc/bind/<concept>.cpp), called by the module (module.cpp).
void bind_threads(py::module_& m);
void bind_activation(py::module_& m);
void bind_registry(py::module_& m);
void bind_model(py::module_& m);
void bind_optim(py::module_& m);
void bind_loss(py::module_& m);
void bind_clip(py::module_& m);
void bind_validate(py::module_& m);
void bind_collective(py::module_& m);

}  // namespace fastnet::bind

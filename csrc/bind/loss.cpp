// Binding of the losses (csrc/losses/). fastnet/losses.py validates and converts
// first; the checks here are the last line of defence before C++ touches memory.
#include "losses/loss.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "bind/common.h"

namespace fastnet::bind {

namespace {

using FloatArray = FArray;
using LabelArray = IArray;

template <class Array>
Array as_array(const py::object& obj, const char* what) {
  Array arr = Array::ensure(obj);
  if (!arr) throw py::type_error(std::string(what) + " must be a numeric array");
  return arr;
}

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

py::tuple loss_forward_backward_py(const std::string& name, const py::object& pred_obj,
                                   const py::object& target_obj, const py::object& labels_obj,
                                   float delta, bool from_logits, bool need_grad,
                                   const py::object& weights_obj) {
  // Unknown names and out-of-range settings: ValueError naming them.
  const LossSettings ls = loss_settings_of(name, delta, from_logits);
  const bool sparse = ls.kind == LossKind::SparseCategoricalCrossentropy;

  FloatArray pred = as_array<FloatArray>(pred_obj, "pred");
  if (pred.ndim() != 2)
    throw std::invalid_argument(name + ": pred must be 2-D (rows, cols), got shape " +
                                shape_str(pred));
  const int64_t rows = pred.shape(0), cols = pred.shape(1);
  if (rows == 0 || cols == 0)
    throw std::invalid_argument(name + ": empty batch, pred shape " + shape_str(pred));

  FloatArray target;
  LabelArray labels;
  const float* target_ptr = nullptr;
  const int32_t* labels_ptr = nullptr;
  if (sparse) {
    if (labels_obj.is_none())
      throw std::invalid_argument(name + ": labels (int32, shape (rows,)) are required");
    labels = as_array<LabelArray>(labels_obj, "labels");
    if (labels.ndim() != 1 || labels.shape(0) != rows)
      throw std::invalid_argument(name + ": labels must have shape (" + std::to_string(rows) +
                                  ",), got " + shape_str(labels));
    labels_ptr = labels.data();
  } else {
    if (target_obj.is_none()) throw std::invalid_argument(name + ": target is required");
    target = as_array<FloatArray>(target_obj, "target");
    if (target.ndim() != 2 || target.shape(0) != rows || target.shape(1) != cols)
      throw std::invalid_argument(name + ": target shape " + shape_str(target) +
                                  " must equal pred shape " + shape_str(pred));
    target_ptr = target.data();
  }

  FloatArray warr;
  const float* weights = sample_weights(weights_obj, warr, rows);

  py::object grad_obj = py::none();
  float* grad_ptr = nullptr;
  if (need_grad) {
    FloatArray grad({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
    grad_ptr = grad.mutable_data();
    grad_obj = std::move(grad);
  }

  double value;
  {
    py::gil_scoped_release release;  // arrays stay alive: owned by this frame
    value = loss_forward_backward(ls.kind, ls.params, pred.data(), target_ptr, labels_ptr, grad_ptr,
                                  rows, cols, weights);
  }
  return py::make_tuple(value, grad_obj);
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("loss_forward_backward", &loss_forward_backward_py, py::arg("name"), py::arg("pred"),
        py::arg("target") = py::none(), py::arg("labels") = py::none(), py::arg("delta") = 1.0f,
        py::arg("from_logits") = false, py::arg("need_grad") = true,
        py::arg("weights") = py::none(),
        R"doc(Mean loss and its gradient with respect to pred, in one C++ pass.

name: a loss name or alias (the losses entries of registry()).
pred: float32 (rows, cols), C-contiguous (other dtypes/layouts are converted).
target: float32 (rows, cols), or None for sparse_categorical_crossentropy.
labels: int32 (rows,) class indices for sparse_categorical_crossentropy, else None.
weights: float32 (rows,) non-negative sample weights, or None: the weighted mean
sum w_i l_i / sum w_i (csrc/losses/loss.h).
Returns (value: float, grad: float32 (rows, cols) or None when need_grad is False).
Raises ValueError on bad shapes or names, IndexError on an out-of-range label.)doc");
}

}  // namespace fastnet::bind

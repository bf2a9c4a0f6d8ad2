// Binding of the input scans (csrc/core/validate.h).
// fastnet/_validate.py calls them on arrays it has already made C-contiguous with the right
// dtype; anything else is refused here rather than converted.
#include "core/validate.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bind/common.h"

namespace fastnet::bind {

namespace {
constexpr int64_t kReleaseGil = 1 << 16;  // elements; below this the GIL round trip costs more
}

void bind_validate(py::module_& m) {
  m.def(
      "all_finite",
      [](py::array_t<float, py::array::c_style> x) {
        const int64_t n = static_cast<int64_t>(x.size());
        const float* p = x.data();
        if (n < kReleaseGil) return fastnet::all_finite(p, n);
        py::gil_scoped_release nogil;
        return fastnet::all_finite(p, n);
      },
      py::arg("x").noconvert());
  // (int32 labels, lo, hi) from a C-contiguous 1-D int32 or int64 array; int32 input is
  // returned as is, int64 is narrowed only when its range fits int32.
  m.def("int_labels", [](py::array y) -> py::tuple {
    if (y.ndim() != 1 || !(y.flags() & py::array::c_style))
      throw py::value_error("int_labels: expected a C-contiguous 1-D array");
    const int64_t n = static_cast<int64_t>(y.shape(0));
    int64_t lo = 0, hi = 0;
    if (py::isinstance<py::array_t<int32_t>>(y)) {
      fastnet::label_range(static_cast<const int32_t*>(y.data()), n, lo, hi);
      return py::make_tuple(y, lo, hi);
    }
    if (!py::isinstance<py::array_t<int64_t>>(y))
      throw py::type_error("int_labels: expected int32 or int64 labels");
    const auto* src = static_cast<const int64_t*>(y.data());
    fastnet::label_range(src, n, lo, hi);
    if (lo < INT32_MIN || hi > INT32_MAX) return py::make_tuple(py::none(), lo, hi);
    py::array_t<int32_t> out(n);
    fastnet::narrow_labels(src, out.mutable_data(), n);
    return py::make_tuple(out, lo, hi);
  });
}

}  // namespace fastnet::bind

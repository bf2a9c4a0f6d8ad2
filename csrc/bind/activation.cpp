// Binding of the activation kernels (csrc/activations/activation.h) on a bare batch, without a
// model: the vectorized row kernels or their libm reference twin, for tests that hold one
// against the other. Kinds that need per-feature state (PReLU's slope) are refused.
#include "activations/activation.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "bind/common.h"

namespace fastnet::bind {

void bind_activation(py::module_& m) {
  m.def(
      "activation_kernel",
      [](const std::string& name, FArray Z, FArray dY, float alpha, float beta, bool reference) {
        const ActivationEntry& entry = activation_entry(name);  // ValueError for unknown names
        if (entry.kind == ActKind::PReLU)
          throw std::invalid_argument(name + ": a learned per-feature slope needs a model");
        if (Z.ndim() != 2) throw std::invalid_argument("activation_kernel: Z must be 2-D");
        const int64_t rows = Z.shape(0), cols = Z.shape(1);
        if (dY.ndim() != 2 || dY.shape(0) != rows || dY.shape(1) != cols)
          throw std::invalid_argument("activation_kernel: dY must have Z's shape");
        ActParams p;
        p.alpha = alpha;
        p.beta = beta;
        FArray z({rows, cols}), y({rows, cols}), dz({rows, cols});
        std::memcpy(z.mutable_data(), Z.data(), sizeof(float) * rows * cols);
        {
          py::gil_scoped_release nogil;
          activation_forward(entry.kind, p, z.mutable_data(), nullptr, y.mutable_data(), rows, cols,
                             /*training=*/false, reference);
          activation_backward(entry.kind, p, z.data(), y.data(), dY.data(), dz.mutable_data(),
                              nullptr, nullptr, rows, cols, /*training=*/false, reference);
        }
        return py::make_tuple(y, dz);
      },
      py::arg("name"), py::arg("Z"), py::arg("dY"), py::arg("alpha"), py::arg("beta"),
      py::arg("reference"));
}

}  // namespace fastnet::bind

// The only PYBIND11_MODULE: fastnet._core. Each concept binds itself in its own file
// (csrc/bind/<concept>.cpp); Python validates every input first (fastnet/_validate.py) and the
// bindings are the last line of defence before raw pointers.
#include "bind/common.h"
#include "core/spec.h"

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  using namespace fastnet::bind;
  m.doc() = "fastnet C++ core";
  // A value of the wrong type, found in C++ (a registry check): TypeError, as in Python.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastnet::type_error& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  bind_threads(m);
  bind_registry(m);
  bind_loss(m);
  bind_clip(m);
  bind_activation(m);
  bind_validate(m);
  bind_model(m);
  bind_optim(m);
  bind_collective(m);
}

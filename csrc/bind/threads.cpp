// Binding of the thread pool (csrc/core/threads.h) and of what OpenBLAS reports.
#include "core/threads.h"

#include <cblas.h>

#include <string>

#include "bind/common.h"
#include "core/cpu.h"

namespace fastnet::bind {

void bind_threads(py::module_& m) {
  // OpenBLAS runs single-threaded, set once here and never changed per call: fastnet splits
  // the products worth a second core over its own pool (csrc/core/blas.h, csrc/core/threads.h).
  scipy_openblas_set_num_threads(1);
  m.def("set_num_threads", [](int n) {
    if (n < 1 || n > kMaxThreads)
      throw py::value_error("n must be in [1, " + std::to_string(kMaxThreads) + "]");
    fastnet::set_num_threads(n);
  });
  m.def("get_num_threads", []() { return num_threads(); });
  m.def("set_spin_us", &set_spin_us, py::arg("us"));
  m.def("spin_us", &spin_us);
  m.def("pool_workers", &pool_workers, "Worker threads created so far in this process.");
  m.def("pool_late_jobs", &pool_late_jobs,
        "Jobs after which the pool backed off to caller-only runs (a worker came back late).");
  m.def("openblas_num_threads", []() { return scipy_openblas_get_num_threads(); });
  m.def("openblas_corename", []() { return std::string(scipy_openblas_get_corename()); });
  m.def("openblas_config", []() { return std::string(scipy_openblas_get_config()); });
  // Instruction sets: what the CPU has, what the kernels use, and the cap tests lower.
  m.def("cpu_isa", []() { return std::string(isa_name(cpu_isa())); });
  m.def("active_isa", []() { return std::string(isa_name(active_isa())); });
  m.def(
      "set_isa_limit", [](const std::string& name) { set_isa_limit(isa_from_name(name)); },
      py::arg("name"));
  m.def("compiler", []() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#else
    return std::string("unknown");
#endif
  });
}

}  // namespace fastnet::bind

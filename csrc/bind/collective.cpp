// fastnet._core.Collective: the MPI entry points and handles (integers from mpi4py, see
// fastnet/distributed.py) behind a data-parallel training step (csrc/engine/collective.h).
#include "engine/collective.h"

#include "bind/common.h"
#include "engine/model.h"

namespace fastnet::bind {

void bind_collective(py::module_& m) {
  // fastnet/_engine.py turns it into fastnet.distributed.PeerError.
  py::register_exception<PeerFailure>(m, "PeerFailure", PyExc_RuntimeError);
  py::class_<Collective, std::shared_ptr<Collective>>(m, "Collective")
      .def(py::init([](const std::string& abi, uintptr_t allreduce, uintptr_t comm, uintptr_t f32,
                       uintptr_t f64, uintptr_t sum, int rank, int world, const Model& model,
                       bool sync_bn) {
             Collective::Abi kind;
             if (abi == "openmpi")
               kind = Collective::Abi::OpenMPI;
             else if (abi == "mpich")
               kind = Collective::Abi::MPICH;
             else
               throw py::value_error("abi must be 'openmpi' or 'mpich'");
             auto c =
                 std::make_shared<Collective>(kind, allreduce, comm, f32, f64, sum, rank, world);
             c->bn_features = model.batchnorm_features();
             c->sync_bn = sync_bn;
             return c;
           }),
           py::arg("abi"), py::arg("allreduce"), py::arg("comm"), py::arg("float32"),
           py::arg("float64"), py::arg("sum"), py::arg("rank"), py::arg("world"), py::arg("model"),
           py::arg("sync_batchnorm"))
      .def_readonly("rank", &Collective::rank)
      .def_readonly("world", &Collective::world)
      .def_property_readonly("position", &Collective::position)
      .def_readonly("final_calls", &Collective::final_calls)
      .def_readonly("final_seconds", &Collective::final_seconds)
      .def_property_readonly("last_round_failed", &Collective::last_round_failed)
      .def(
          "exchange",
          [](Collective& self, FArray values, size_t final_floats, bool error) {
            if (values.ndim() != 1) throw py::value_error("payload must be one-dimensional");
            std::vector<float> payload(values.data(), values.data() + values.shape(0));
            bool ok;
            {
              py::gil_scoped_release nogil;
              ok = self.exchange(payload, final_floats, error);
            }
            py::array_t<float> out(static_cast<py::ssize_t>(payload.size()));
            std::copy(payload.begin(), payload.end(), out.mutable_data());
            return py::make_tuple(ok, out);
          },
          "One round between steps: the sum over the ranks of `payload` (its length at most "
          "final_floats), and False when a rank flagged an error.",
          py::arg("payload"), py::arg("final_floats"), py::arg("error"))
      .def(
          "fail_round",
          [](Collective& self, size_t final_floats) {
            py::gil_scoped_release nogil;
            self.fail_round(final_floats);
          },
          "Complete the current round with the error flag set.", py::arg("final_floats"));
}

}  // namespace fastnet::bind

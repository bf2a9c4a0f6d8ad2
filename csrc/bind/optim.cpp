// Binding of the optimizers (csrc/optim/): construction by name with named hyper-parameters,
// the step and its reference twin, per-slot settings and the state that state_dict saves.
#include <pybind11/stl.h>

#include <cmath>
#include <mutex>
#include <shared_mutex>

#include "bind/common.h"
#include "engine/model.h"
#include "optim/registry.h"

namespace fastnet::bind {

namespace {
double number_of(py::handle v, const std::string& what) {
  const double x = PyFloat_AsDouble(v.ptr());
  if (x == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::type_error(what + " must be a number, got " +
                         std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  return x;
}
}  // namespace

void bind_optim(py::module_& m) {
  py::class_<Optimizer>(m, "Optimizer")
      .def(py::init([](const std::string& kind, const py::dict& hparams,
                       std::shared_ptr<Model> model, std::vector<py::tuple> slots, int clip_mode,
                       float clip_value) {
             if (clip_mode < 0 || clip_mode > static_cast<int>(ClipMode::LayerNorm))
               throw py::value_error("clip_mode must be in [0, 4]");
             Settings hp;
             for (auto item : hparams) {
               const std::string key = py::cast<std::string>(py::str(item.first));
               if (py::isinstance<py::str>(item.second))
                 hp.str[key] = py::cast<std::string>(item.second);
               else if (!item.second.is_none())
                 hp.num[key] = number_of(item.second, kind + ": " + key);
             }
             // Each slot: (offset, size, lr, weight_decay, parameter index[, layer, l1,
             // max_norm, columns]); the parameter index names the model tensor whose
             // trainable flag the optimizer reads; layer groups the tensors of one layer
             // (per-layer clip and normalization; -1: alone); l1 and max_norm (0: off) are
             // the layer's penalty and constraint, columns the kernel's column count.
             std::vector<ParamSlot> ps;
             auto decls = model->param_decls();
             for (auto& t : slots) {
               ParamSlot s;
               s.offset = py::cast<size_t>(t[0]);
               s.size = py::cast<size_t>(t[1]);
               s.set_lr(py::cast<double>(t[2]));
               s.set_weight_decay(py::cast<double>(t[3]));
               const size_t index = py::cast<size_t>(t[4]);
               if (index >= decls.size() || decls[index]->offset != s.offset ||
                   decls[index]->size() != s.size)
                 throw py::value_error("slot does not match the model's parameter " +
                                       std::to_string(index));
               s.trainable_flag = &decls[index]->trainable;
               if (t.size() != 5 && t.size() != 9)
                 throw py::value_error("a slot has 5 or 9 entries");
               if (t.size() == 9) {
                 s.layer = py::cast<int64_t>(t[5]);
                 const double l1 = py::cast<double>(t[6]), max_norm = py::cast<double>(t[7]);
                 const size_t columns = py::cast<size_t>(t[8]);
                 if (!(l1 >= 0.0) || !std::isfinite(l1) || !(max_norm >= 0.0) ||
                     !std::isfinite(max_norm))
                   throw py::value_error("l1 and max_norm must be finite, >= 0");
                 if (max_norm > 0.0 && (columns == 0 || s.size % columns != 0))
                   throw py::value_error("max_norm needs a column count that divides the size");
                 s.l1 = static_cast<float>(l1);
                 s.max_norm = static_cast<float>(max_norm);
                 s.columns = columns;
               }
               ps.push_back(s);
             }
             OptimizerArgs args;
             args.model = std::move(model);
             args.slots = std::move(ps);
             args.clip_mode = static_cast<ClipMode>(clip_mode);
             args.clip_value = clip_value;
             return make_optimizer(kind, hp, std::move(args));
           }),
           py::arg("kind"), py::arg("hparams"), py::arg("model"), py::arg("slots"),
           py::arg("clip_mode"), py::arg("clip_value"),
           "The update rule `kind` (an optimizers entry of registry()) with its hyper-parameters "
           "by name (lr and weight_decay travel per slot: (offset, size, lr, weight_decay, "
           "parameter index)).")
      .def(
          "step",
          [](Optimizer& self, bool reference) {
            py::gil_scoped_release nogil;
            std::unique_lock<std::shared_mutex> lock(self.model->mutex);
            return self.step(reference);
          },
          py::arg("reference") = false)
      // Per-slot settings, as set (the kernels use their float32 forms): Python's groups
      // read and write them here; fit writes the scheduled lr itself.
      .def("slot_lr",
           [](const Optimizer& self, size_t i) {
             if (i >= self.slots.size()) throw py::index_error("slot index");
             return self.slots[i].lr_value;
           })
      .def("slot_weight_decay",
           [](const Optimizer& self, size_t i) {
             if (i >= self.slots.size()) throw py::index_error("slot index");
             return self.slots[i].weight_decay_value;
           })
      .def("set_slot_lr",
           [](Optimizer& self, size_t i, double v) {
             if (i >= self.slots.size()) throw py::index_error("slot index");
             if (!(v >= 0.0) || !std::isfinite(v)) throw py::value_error("lr must be finite, >= 0");
             std::unique_lock<std::shared_mutex> lock(self.model->mutex);
             self.slots[i].set_lr(v);
           })
      // The hyper-parameters a schedule may change between steps (Optimizer::scheduled_hparam);
      // Python checked the value against the registry entry.
      .def("scheduled_hparam",
           [](Optimizer& self, const std::string& name) {
             const float* h = self.scheduled_hparam(name);
             if (!h) throw py::key_error(name);
             return static_cast<double>(*h);
           })
      .def("set_scheduled_hparam",
           [](Optimizer& self, const std::string& name, double v) {
             float* h = self.scheduled_hparam(name);
             if (!h) throw py::key_error(name);
             if (!std::isfinite(v)) throw py::value_error(name + " must be finite");
             std::unique_lock<std::shared_mutex> lock(self.model->mutex);
             *h = static_cast<float>(v);
           })
      .def("set_slot_weight_decay",
           [](Optimizer& self, size_t i, double v) {
             if (i >= self.slots.size()) throw py::index_error("slot index");
             if (!(v >= 0.0) || !std::isfinite(v))
               throw py::value_error("weight_decay must be finite, >= 0");
             std::unique_lock<std::shared_mutex> lock(self.model->mutex);
             self.slots[i].set_weight_decay(v);
           })
      // Model averaging (EMA / Polyak): mode 0 none, 1 EMA, 2 Polyak.
      .def(
          "set_average",
          [](Optimizer& self, int mode, double decay) {
            if (mode < 0 || mode > static_cast<int>(AverageMode::Polyak))
              throw py::value_error("average mode must be in [0, 2]");
            if (!(decay >= 0.0 && decay <= 1.0)) throw py::value_error("ema_decay in [0, 1]");
            std::unique_lock<std::shared_mutex> lock(self.model->mutex);
            self.set_average(static_cast<AverageMode>(mode), decay);
          },
          py::arg("mode"), py::arg("decay"))
      .def("swap_average",
           [](Optimizer& self) {
             std::unique_lock<std::shared_mutex> lock(self.model->mutex);
             self.swap_average();
           })
      .def_readonly("average_swapped", &Optimizer::average_swapped)
      .def_property(
          "averaged_steps", [](const Optimizer& self) { return self.averaged_steps; },
          [](Optimizer& self, int64_t v) {
            if (v < 0) throw py::value_error("averaged_steps must be >= 0");
            self.averaged_steps = v;
          })
      .def("average_view",
           [](py::object pyself) {
             Optimizer& self = py::cast<Optimizer&>(pyself);
             if (self.average == AverageMode::None)
               throw py::value_error("this optimizer keeps no average");
             return arena_view(pyself, self.averaged.data(), self.averaged.size(), 0,
                               {static_cast<int64_t>(self.model->arena_floats())});
           })
      .def_readwrite("steps", &Optimizer::steps)
      .def_readwrite("skipped_steps", &Optimizer::skipped_steps)
      .def_property(
          "slot_steps", [](const Optimizer& self) { return self.slot_steps; },
          [](Optimizer& self, const std::vector<int64_t>& v) {
            if (v.size() != self.slots.size())
              throw py::value_error("slot_steps needs one step count per parameter slot");
            self.slot_steps = v;
          })
      .def_readonly("last_sumsq", &Optimizer::last_sumsq)
      .def_property(
          "slot_state", [](const Optimizer& self) { return self.slot_state; },
          [](Optimizer& self, const std::vector<double>& v) {
            if (v.size() != self.slot_state.size())
              throw py::value_error("slot_state needs " + std::to_string(self.scalars_per_slot) +
                                    " value(s) per parameter slot");
            self.slot_state = v;
          })
      .def_property_readonly("num_state", [](Optimizer& self) { return self.state.size(); })
      .def("state_view", [](py::object pyself, size_t k) {
        Optimizer& self = py::cast<Optimizer&>(pyself);
        if (k >= self.state.size()) throw py::index_error("state index");
        return arena_view(pyself, self.state[k].data(), self.state[k].size(), 0,
                          {static_cast<int64_t>(self.model->arena_floats())});
      });
}

}  // namespace fastnet::bind

// The only PYBIND11_MODULE: fastnet._core. Python validates every input first
// (fastnet/_validate.py); the checks here are the last line of defence before raw pointers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "common.h"
#include "loss.h"
#include "model/model.h"
#include "optim/optimizer.h"
#include "threads.h"

namespace py = pybind11;
using namespace fastnet;

void bind_loss(py::module_& m);  // csrc/loss_bind.cpp
void bind_clip(py::module_& m);  // csrc/optim/clip_bind.cpp
void bind_validate(py::module_& m);  // csrc/validate_bind.cpp

namespace {

using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IArray = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

LayerConfig config_from_dict(const py::dict& d) {
  LayerConfig c;
  for (auto item : d) {
    std::string key = py::cast<std::string>(item.first);
    py::handle v = item.second;
    if (key == "kind") {
      c.kind = py::cast<std::string>(v);
    } else if (key == "children") {
      for (auto child : py::cast<py::list>(v)) c.children.push_back(config_from_dict(py::cast<py::dict>(child)));
    } else if (py::isinstance<py::str>(v)) {
      c.str[key] = py::cast<std::string>(v);
    } else if (!v.is_none()) {
      c.num[key] = py::cast<double>(v);
    }
  }
  return c;
}

void check_2d(const FArray& a, int64_t cols, const char* name) {
  if (a.ndim() != 2) throw py::value_error(std::string(name) + " must be 2-D");
  if (a.shape(1) != cols)
    throw py::value_error(std::string(name) + " has " + std::to_string(a.shape(1)) +
                          " columns, expected " + std::to_string(cols));
  if (a.shape(0) <= 0) throw py::value_error(std::string(name) + " is an empty batch");
}

// Loss target: either float targets of the output's shape or int32 labels of length batch.
struct LossTarget {
  const float* target = nullptr;
  const int32_t* labels = nullptr;
  FArray tarr;
  IArray larr;
};

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

py::array_t<float> arena_view(py::object self, float* base, size_t offset,
                              const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> shp(shape.begin(), shape.end());
  std::vector<py::ssize_t> strides(shp.size());
  py::ssize_t s = sizeof(float);
  for (size_t i = shp.size(); i-- > 0;) {
    strides[i] = s;
    s *= shp[i];
  }
  return py::array_t<float>(shp, strides, base + offset, self);
}

// A view of [offset, offset + prod(shape)) of an arena of `floats` floats, refusing negative
// dimensions, a product that overflows, and anything past the end.
py::array_t<float> checked_arena_view(py::object self, float* base, size_t floats, size_t offset,
                                      const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw py::value_error("negative dimension in view shape");
    if (d != 0 && n > floats / static_cast<size_t>(d)) throw py::value_error("view outside the arena");
    n *= static_cast<size_t>(d);
  }
  if (offset > floats || n > floats - offset) throw py::value_error("view outside the arena");
  return arena_view(self, base, offset, shape);
}

// Lets a long call (fit, predict, evaluate over many chunks) notice Ctrl-C and other signals
// while the GIL is released: between steps or chunks, at most every kIntervalMs, the main
// thread takes the GIL and runs Python's signal handlers. A handler that raises (SIGINT's
// KeyboardInterrupt) stops the call at that boundary, so the model is left whole, and the
// exception is raised when the call returns. Other threads never receive signals in Python:
// they skip the check after the first look.
class SignalCheck {
 public:
  static constexpr int kIntervalMs = 20;
  SignalCheck() : last_(std::chrono::steady_clock::now()) {
    fn_ = [this]() { return poll(); };
  }
  const StopCheck* get() const { return &fn_; }
  bool stopped() const { return error_ != nullptr; }
  // The handler's exception (with the GIL held): raised here, or handed to Python.
  [[noreturn]] void raise() { throw std::move(*error_); }
  py::object exception() const { return error_ ? error_->value() : py::none(); }

 private:
  bool poll() {
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
  std::chrono::steady_clock::time_point last_;
  bool main_thread_ = true, checked_main_ = false;
  std::unique_ptr<py::error_already_set> error_;
  StopCheck fn_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastnet C++ core";

  // OpenBLAS runs single-threaded, set once here and never changed per call: fastnet splits
  // the products worth a second core over its own pool (csrc/blas.h, csrc/threads.h).
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
  m.def("compiler", []() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#else
    return std::string("unknown");
#endif
  });
  bind_loss(m);
  bind_clip(m);
  bind_validate(m);

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def(py::init<>())
      .def("add", [](Model& self, const py::dict& cfg) { self.add(config_from_dict(cfg)); })
      .def("build", &Model::build)
      .def_property_readonly("arena_floats", &Model::arena_floats)
      .def_property_readonly("in_features", &Model::in_features)
      .def_property_readonly("out_features", &Model::out_features)
      .def_readwrite("seed", &Model::seed)
      .def_readwrite("step", &Model::step)
      .def_readonly("last_train_batch", &Model::last_train_batch)
      // Trainable flags, by parameter index (Model::param_decls order): the optimizers read
      // them at every step.
      .def("param_trainable",
           [](Model& self, size_t i) {
             auto decls = self.param_decls();
             if (i >= decls.size()) throw py::index_error("parameter index");
             return decls[i]->trainable;
           })
      .def("set_param_trainable",
           [](Model& self, size_t i, bool flag) {
             auto decls = self.param_decls();
             if (i >= decls.size()) throw py::index_error("parameter index");
             std::unique_lock<std::shared_mutex> lock(self.mutex);  // not during a step
             decls[i]->trainable = flag;
           })
      .def("layer_params",
           [](Model& self, size_t i) {
             py::list out;
             for (auto* d : self.layer(i).param_decls())
               out.append(py::make_tuple(d->name, d->shape, d->offset));
             return out;
           })
      .def("params_view",
           [](py::object self, size_t offset, std::vector<int64_t> shape) {
             Model& m = py::cast<Model&>(self);
             return checked_arena_view(self, m.params(), m.arena_floats(), offset, shape);
           })
      .def("grads_view",
           [](py::object self, size_t offset, std::vector<int64_t> shape) {
             Model& m = py::cast<Model&>(self);
             return checked_arena_view(self, m.grads(), m.arena_floats(), offset, shape);
           })
      .def("forward",
           [](Model& self, FArray X, bool training) {
             check_2d(X, self.in_features(), "X");
             const int64_t batch = X.shape(0), out = self.out_features();
             py::array_t<float> Y({batch, out});
             {
               py::gil_scoped_release nogil;
               std::unique_lock<std::shared_mutex> lock(self.mutex);
               const float* y = self.forward(X.data(), batch, training, true);
               std::memcpy(Y.mutable_data(), y, sizeof(float) * batch * out);
             }
             return Y;
           })
      .def("backward",
           [](Model& self, FArray dY, bool want_dx) -> py::object {
             if (self.last_train_batch < 0)
               throw std::runtime_error("backward() needs a forward(X, training=True) first");
             check_2d(dY, self.out_features(), "dY");
             const int64_t batch = dY.shape(0);
             if (batch != self.last_train_batch)
               throw py::value_error("dY has " + std::to_string(batch) +
                                     " rows but the last forward had " +
                                     std::to_string(self.last_train_batch));
             py::array_t<float> dX;
             float* dx = nullptr;
             if (want_dx) {
               dX = py::array_t<float>({batch, self.in_features()});
               dx = dX.mutable_data();
             }
             {
               py::gil_scoped_release nogil;
               std::unique_lock<std::shared_mutex> lock(self.mutex);
               self.backward(dY.data(), dx);
             }
             if (!want_dx) return py::none();
             return std::move(dX);
           })
      .def("train_step",
           [](Model& self, FArray X, py::object target, py::object labels,
              const std::string& loss, float delta, bool from_logits, Optimizer* opt) {
             check_2d(X, self.in_features(), "X");
             const int64_t batch = X.shape(0);
             LossKind kind = loss_from_name(loss);
             LossTarget t = loss_target(target, labels, kind, batch, self.out_features());
             if (opt && opt->model.get() != &self)
               throw py::value_error("optimizer was built for another model");
             LossParams lp;
             lp.delta = delta;
             lp.from_logits = from_logits;
             double gnorm = 0.0, value;
             {
               py::gil_scoped_release nogil;
               std::unique_lock<std::shared_mutex> lock(self.mutex);
               value = self.train_step(X.data(), batch, t.target, t.labels, kind, lp, opt, &gnorm);
             }
             return py::make_tuple(value, gnorm);
           },
           py::arg("X"), py::arg("target"), py::arg("labels"), py::arg("loss"),
           py::arg("delta"), py::arg("from_logits"), py::arg("optimizer").none(true))
      .def("fit_batches",
           [](Model& self, FArray X, py::object target, py::object labels,
              py::array_t<int64_t, py::array::c_style | py::array::forcecast> order,
              int64_t batch_size, int64_t first_batch, int64_t num_batches,
              const std::string& loss, float delta, bool from_logits, Optimizer* opt,
              py::object slot_base_lrs, py::object lr_factors, bool stop_on_nonfinite,
              bool absorb_single) {
             check_2d(X, self.in_features(), "X");
             const int64_t n = X.shape(0);
             if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
             if (order.ndim() != 1 || order.shape(0) != n)
               throw py::value_error("order must hold one index per row");
             if (first_batch < 0 || num_batches < 0) throw py::value_error("bad batch range");
             LossKind kind = loss_from_name(loss);
             LossTarget t = loss_target(target, labels, kind, n, self.out_features());
             if (opt && opt->model.get() != &self)
               throw py::value_error("optimizer was built for another model");
             FArray base, factors;
             const float* base_p = nullptr;
             const float* fac_p = nullptr;
             if (!lr_factors.is_none()) {
               if (!opt) throw py::value_error("lr_factors need an optimizer");
               base = py::cast<FArray>(slot_base_lrs);
               factors = py::cast<FArray>(lr_factors);
               if (base.ndim() != 1 || static_cast<size_t>(base.shape(0)) != opt->slots.size())
                 throw py::value_error("slot_base_lrs must hold one lr per parameter slot");
               if (factors.ndim() != 1 || factors.shape(0) < num_batches)
                 throw py::value_error("lr_factors must hold one factor per batch");
               base_p = base.data();
               fac_p = factors.data();
             }
             LossParams lp;
             lp.delta = delta;
             lp.from_logits = from_logits;
             Model::FitStats st;
             SignalCheck signals;
             {
               py::gil_scoped_release nogil;
               self.fit_batches(X.data(), n, t.target, t.labels, order.data(), batch_size,
                                first_batch, num_batches, kind, lp, opt, base_p, fac_p,
                                stop_on_nonfinite, absorb_single, st, signals.get());
             }
             py::dict d;
             d["loss_sum"] = st.loss_sum;
             d["samples"] = st.samples;
             d["correct"] = st.correct;
             d["gnorm_sum"] = st.gnorm_sum;
             d["steps"] = st.steps;
             d["nonfinite"] = st.nonfinite;
             d["last_gnorm"] = st.last_gnorm;
             // The steps taken before a signal handler raised are reported with its exception,
             // which the caller re-raises after bookkeeping (fastnet/training.py).
             d["interrupt"] = signals.exception();
             return d;
           },
           py::arg("X"), py::arg("target"), py::arg("labels"), py::arg("order"),
           py::arg("batch_size"), py::arg("first_batch"), py::arg("num_batches"), py::arg("loss"),
           py::arg("delta"), py::arg("from_logits"), py::arg("optimizer").none(true),
           py::arg("slot_base_lrs"), py::arg("lr_factors"), py::arg("stop_on_nonfinite"),
           py::arg("absorb_single"))
      .def_static("epoch_batches", &Model::epoch_batches)
      .def("evaluate",
           [](Model& self, FArray X, py::object target, py::object labels, int64_t batch_size,
              const std::string& loss, float delta, bool from_logits) {
             check_2d(X, self.in_features(), "X");
             const int64_t n = X.shape(0);
             if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
             LossKind kind = loss_from_name(loss);
             LossTarget t = loss_target(target, labels, kind, n, self.out_features());
             LossParams lp;
             lp.delta = delta;
             lp.from_logits = from_logits;
             double loss_sum = 0.0;
             int64_t correct = 0;
             SignalCheck signals;
             {
               py::gil_scoped_release nogil;
               self.evaluate(X.data(), n, t.target, t.labels, batch_size, kind, lp, &loss_sum,
                             &correct, signals.get());
             }
             if (signals.stopped()) signals.raise();
             return py::make_tuple(loss_sum / static_cast<double>(n), correct);
           })
      .def("predict",
           [](Model& self, FArray X, int64_t batch_size) {
             check_2d(X, self.in_features(), "X");
             const int64_t n = X.shape(0), out = self.out_features();
             if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
             py::array_t<float> Y({n, out});
             SignalCheck signals;
             {
               py::gil_scoped_release nogil;
               self.predict(X.data(), n, batch_size, Y.mutable_data(), signals.get());
             }
             if (signals.stopped()) signals.raise();
             return Y;
           })
      .def("activation",
           [](Model& self, size_t i) {
             if (i >= self.num_layers()) throw py::index_error("layer index out of range");
             std::shared_lock<std::shared_mutex> lock(self.mutex);
             const float* src = self.layer_output(i);
             if (!src) throw std::runtime_error("activation() needs a forward pass first");
             const int64_t batch = self.last_batch(), width = self.layer(i).out;
             py::array_t<float> A({batch, width});
             std::memcpy(A.mutable_data(), src, sizeof(float) * batch * width);
             return A;
           },
           "Copy of layer i's output (batch, width) from the last forward pass.")
      .def("eval_loss", [](Model& self, FArray X, py::object target, py::object labels,
                           const std::string& loss, float delta, bool from_logits) {
        check_2d(X, self.in_features(), "X");
        const int64_t batch = X.shape(0);
        LossKind kind = loss_from_name(loss);
        LossTarget t = loss_target(target, labels, kind, batch, self.out_features());
        LossParams lp;
        lp.delta = delta;
        lp.from_logits = from_logits;
        py::gil_scoped_release nogil;
        return self.eval_loss(X.data(), batch, t.target, t.labels, kind, lp);
      });

  py::class_<Optimizer>(m, "Optimizer")
      .def(py::init([](const std::string& kind, std::vector<double> hparams,
                       std::shared_ptr<Model> model, std::vector<py::tuple> slots, int clip_mode,
                       float clip_value) {
             // Each slot: (offset, size, lr, weight_decay, parameter index); the parameter
             // index names the model tensor whose trainable flag the optimizer reads.
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
               ps.push_back(s);
             }
             return make_optimizer(kind, hparams, std::move(model), std::move(ps),
                                   static_cast<ClipMode>(clip_mode), clip_value);
           }))
      .def("step",
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
      .def("set_slot_weight_decay",
           [](Optimizer& self, size_t i, double v) {
             if (i >= self.slots.size()) throw py::index_error("slot index");
             if (!(v >= 0.0) || !std::isfinite(v))
               throw py::value_error("weight_decay must be finite, >= 0");
             std::unique_lock<std::shared_mutex> lock(self.model->mutex);
             self.slots[i].set_weight_decay(v);
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
              throw py::value_error("slot_state needs one value per parameter slot");
            self.slot_state = v;
          })
      .def_property_readonly("num_state", [](Optimizer& self) { return self.state.size(); })
      .def("state_view", [](py::object pyself, size_t k) {
        Optimizer& self = py::cast<Optimizer&>(pyself);
        if (k >= self.state.size()) throw py::index_error("state index");
        return arena_view(pyself, self.state[k].data(), 0,
                          {static_cast<int64_t>(self.model->arena_floats())});
      });
}

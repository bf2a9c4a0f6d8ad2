// Binding of the C++ model (csrc/engine/): construction from layer configurations, arena views,
// forward/backward, the training step, whole epochs, evaluation and prediction.
#include "engine/model.h"

#include <pybind11/stl.h>

#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

#include "bind/common.h"
#include "layers/layer.h"
#include "optim/optimizer.h"

namespace fastnet::bind {

namespace {

// A layer configuration from its Python dict: "kind", "children" (a list of dicts), and
// settings that are numbers (bools and ints included) or strings; None means the default.
// The settings are checked against the kind's registry entry when the layer is built.
LayerConfig config_from_dict(const py::dict& d) {
  LayerConfig c;
  if (!d.contains("kind")) throw py::value_error("a layer configuration needs a 'kind'");
  if (!py::isinstance<py::str>(d["kind"]))
    throw py::type_error("the layer 'kind' must be a string");
  c.kind = py::cast<std::string>(d["kind"]);
  for (auto item : d) {
    if (!py::isinstance<py::str>(item.first))
      throw py::type_error(c.kind + " layer: setting names must be strings");
    const std::string key = py::cast<std::string>(item.first);
    py::handle v = item.second;
    if (key == "kind" || v.is_none()) continue;
    if (key == "children") {
      if (!py::isinstance<py::list>(v) && !py::isinstance<py::tuple>(v))
        throw py::type_error(c.kind + " layer: children must be a list of configurations");
      for (auto child : v) {
        if (!py::isinstance<py::dict>(child))
          throw py::type_error(c.kind + " layer: each child must be a configuration dict");
        c.children.push_back(config_from_dict(py::reinterpret_borrow<py::dict>(child)));
      }
    } else if (py::isinstance<py::str>(v)) {
      c.values.str[key] = py::cast<std::string>(v);
    } else {
      const double x = PyFloat_AsDouble(v.ptr());
      if (x == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        throw py::type_error(c.kind + " layer: " + key + " must be a number or a string, got " +
                             std::string(py::str(py::type::of(v).attr("__name__"))));
      }
      c.values.num[key] = x;
    }
  }
  return c;
}

// Attaches a data-parallel collective to the model for one call (engine/model.h).
class CollectiveScope {
 public:
  CollectiveScope(Model& model, const py::object& collective) : model_(model) {
    if (!collective.is_none()) {
      holder_ = py::cast<std::shared_ptr<Collective>>(collective);
      model.collective = holder_.get();
    }
  }
  ~CollectiveScope() { model_.collective = nullptr; }
  CollectiveScope(const CollectiveScope&) = delete;
  CollectiveScope& operator=(const CollectiveScope&) = delete;

 private:
  Model& model_;
  std::shared_ptr<Collective> holder_;
};

void check_optimizer(const Model& self, const Optimizer* opt) {
  if (opt && opt->model.get() != &self)
    throw py::value_error("optimizer was built for another model");
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def(py::init<>())
      .def(
          "add", [](Model& self, const py::dict& cfg) { self.add(config_from_dict(cfg)); },
          "Add a layer from its configuration {'kind': ..., settings...} (the layers entry of "
          "registry() lists each kind's settings).")
      .def("build", &Model::build)
      .def_property_readonly("arena_floats", &Model::arena_floats)
      .def_property_readonly("in_features", &Model::in_features)
      .def_property_readonly("out_features", &Model::out_features)
      .def_property_readonly("batch_statistics", &Model::batch_statistics,
                             "Training needs two rows per batch (a layer with batch statistics).")
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
             return arena_view(self, m.params(), m.arena_floats(), offset, shape);
           })
      .def("grads_view",
           [](py::object self, size_t offset, std::vector<int64_t> shape) {
             Model& m = py::cast<Model&>(self);
             return arena_view(self, m.grads(), m.arena_floats(), offset, shape);
           })
      .def("forward",
           [](Model& self, FArray X, bool training) {
             const int64_t batch = batch_rows(X, self.in_features(), "X"),
                           out = self.out_features();
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
             const int64_t batch = batch_rows(dY, self.out_features(), "dY");
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
      .def(
          "train_step",
          [](Model& self, FArray X, py::object target, py::object labels, const std::string& loss,
             float delta, bool from_logits, Optimizer* opt, py::object weights,
             py::object collective) {
            const int64_t batch = batch_rows(X, self.in_features(), "X");
            const LossSettings ls = loss_settings_of(loss, delta, from_logits);
            LossTarget t = loss_target(target, labels, ls.kind, batch, self.out_features());
            FArray warr;
            const float* w = sample_weights(weights, warr, batch);
            check_optimizer(self, opt);
            double gnorm = 0.0, value;
            CollectiveScope scope(self, collective);
            {
              py::gil_scoped_release nogil;
              std::unique_lock<std::shared_mutex> lock(self.mutex);
              value = self.train_step(X.data(), batch, t.target, t.labels, ls.kind, ls.params, opt,
                                      &gnorm, w);
            }
            return py::make_tuple(value, gnorm);
          },
          py::arg("X"), py::arg("target"), py::arg("labels"), py::arg("loss"), py::arg("delta"),
          py::arg("from_logits"), py::arg("optimizer").none(true), py::arg("weights") = py::none(),
          py::arg("collective") = py::none())
      .def(
          "fit_batches",
          [](Model& self, FArray X, py::object target, py::object labels,
             py::array_t<int64_t, py::array::c_style | py::array::forcecast> order,
             int64_t batch_size, int64_t first_batch, int64_t num_batches, const std::string& loss,
             float delta, bool from_logits, Optimizer* opt, py::object slot_base_lrs,
             py::object lr_factors, bool stop_on_nonfinite, py::object absorb_single,
             py::object weights, py::object collective) {
            // X holds x_rows rows; `order` picks the epoch's rows (all of them, or a
            // data-parallel rank's shard).
            const int64_t x_rows = batch_rows(X, self.in_features(), "X");
            // The epoch loop asks the model's layers (batch_statistics); a caller that still
            // says what it expects must agree with them.
            if (!absorb_single.is_none() &&
                py::cast<bool>(absorb_single) != self.batch_statistics())
              throw py::value_error("absorb_single disagrees with the model's batch_statistics");
            if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
            if (order.ndim() != 1 || order.shape(0) < 1 || order.shape(0) > x_rows ||
                (collective.is_none() && order.shape(0) != x_rows))
              throw py::value_error("order must hold one index per row");
            const int64_t n = order.shape(0);
            if (first_batch < 0 || num_batches < 0) throw py::value_error("bad batch range");
            const LossSettings ls = loss_settings_of(loss, delta, from_logits);
            LossTarget t = loss_target(target, labels, ls.kind, x_rows, self.out_features());
            FArray warr;
            const float* w = sample_weights(weights, warr, x_rows);
            check_optimizer(self, opt);
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
            Model::FitStats st;
            SignalCheck signals;
            CollectiveScope scope(self, collective);
            {
              py::gil_scoped_release nogil;
              self.fit_batches(X.data(), n, t.target, t.labels, order.data(), batch_size,
                               first_batch, num_batches, ls.kind, ls.params, opt, base_p, fac_p,
                               stop_on_nonfinite, st, signals.get(), w, x_rows);
            }
            py::dict d;
            d["loss_sum"] = st.loss_sum;
            d["weight_sum"] = st.weight_sum;
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
          py::arg("absorb_single") = py::none(), py::arg("weights") = py::none(),
          py::arg("collective") = py::none())
      .def_static("epoch_batches", &Model::epoch_batches)
      .def(
          "evaluate",
          [](Model& self, FArray X, py::object target, py::object labels, int64_t batch_size,
             const std::string& loss, float delta, bool from_logits, py::object weights) {
            const int64_t n = batch_rows(X, self.in_features(), "X");
            if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
            const LossSettings ls = loss_settings_of(loss, delta, from_logits);
            LossTarget t = loss_target(target, labels, ls.kind, n, self.out_features());
            FArray warr;
            const float* w = sample_weights(weights, warr, n);
            double loss_sum = 0.0;
            int64_t correct = 0;
            SignalCheck signals;
            {
              py::gil_scoped_release nogil;
              self.evaluate(X.data(), n, t.target, t.labels, batch_size, ls.kind, ls.params,
                            &loss_sum, &correct, signals.get(), w);
            }
            if (signals.stopped()) signals.raise();
            const double total = weight_sum(w, n);  // all-zero weights: loss 0
            return py::make_tuple(total > 0.0 ? loss_sum / total : 0.0, correct);
          },
          py::arg("X"), py::arg("target"), py::arg("labels"), py::arg("batch_size"),
          py::arg("loss"), py::arg("delta"), py::arg("from_logits"),
          py::arg("weights") = py::none())
      .def("predict",
           [](Model& self, FArray X, int64_t batch_size) {
             const int64_t n = batch_rows(X, self.in_features(), "X"), out = self.out_features();
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
      .def(
          "predict_mc",
          [](Model& self, FArray X, int64_t batch_size, int64_t samples, uint64_t seed) {
            const int64_t n = batch_rows(X, self.in_features(), "X"), out = self.out_features();
            if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
            if (samples < 1) throw py::value_error("n_samples must be >= 1");
            py::array_t<float> mean({n, out}), stdev({n, out});
            SignalCheck signals;
            {
              py::gil_scoped_release nogil;
              self.predict_mc(X.data(), n, batch_size, samples, seed, mean.mutable_data(),
                              stdev.mutable_data(), signals.get());
            }
            if (signals.stopped()) signals.raise();
            return py::make_tuple(mean, stdev);
          },
          py::arg("X"), py::arg("batch_size"), py::arg("samples"), py::arg("seed"))
      .def("plan_summary", &Model::plan_summary)
      .def("freeze_bf16",
           [](Model& self) {
             std::unique_lock<std::shared_mutex> lock(self.mutex);
             self.freeze_bf16();
           })
      .def_property_readonly("frozen_bf16", &Model::frozen_bf16)
      .def_property_readonly("bf16_bytes", &Model::bf16_bytes)
      .def("bf16_weight",
           [](const Model& self, size_t step) {
             std::vector<float> w = self.bf16_weight(step);
             py::array_t<float> out(static_cast<py::ssize_t>(w.size()));
             std::copy(w.begin(), w.end(), out.mutable_data());
             return out;
           })
      .def(
          "activation",
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
        const int64_t batch = batch_rows(X, self.in_features(), "X");
        const LossSettings ls = loss_settings_of(loss, delta, from_logits);
        LossTarget t = loss_target(target, labels, ls.kind, batch, self.out_features());
        py::gil_scoped_release nogil;
        return self.eval_loss(X.data(), batch, t.target, t.labels, ls.kind, ls.params);
      });
}

}  // namespace fastnet::bind

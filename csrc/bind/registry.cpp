// _core.registry(): every registry (activations, losses, optimizers, layers) as plain Python
// data, the one description Python derives its classes, names and checks from
// (fastnet/_registry.py).
#include "layers/registry.h"

#include <pybind11/stl.h>

#include <cmath>

#include "activations/activation.h"
#include "bind/common.h"
#include "core/spec.h"
#include "losses/loss.h"
#include "optim/registry.h"

namespace fastnet::bind {

namespace {

const char* type_name(ParamType t) {
  switch (t) {
    case ParamType::Float:
      return "float";
    case ParamType::Int:
      return "int";
    case ParamType::Bool:
      return "bool";
    case ParamType::Str:
      return "str";
  }
  return "float";
}

py::object bound(double v, ParamType t) {
  if (std::isinf(v)) return py::none();
  if (t == ParamType::Int) return py::int_(static_cast<long long>(v));
  return py::float_(v);
}

py::dict param_dict(const ParamSpec& p) {
  py::dict d;
  d["name"] = p.name;
  d["type"] = type_name(p.type);
  if (p.required)
    d["default"] = py::none();
  else if (p.type == ParamType::Str)
    d["default"] = p.default_str;
  else if (p.type == ParamType::Bool)
    d["default"] = py::bool_(p.default_num != 0.0);
  else if (p.type == ParamType::Int)
    d["default"] = py::int_(static_cast<long long>(p.default_num));
  else
    d["default"] = py::float_(p.default_num);
  d["required"] = p.required;
  const bool numeric = p.type == ParamType::Float || p.type == ParamType::Int;
  d["low"] = numeric ? bound(p.low, p.type) : py::none();
  d["high"] = numeric ? bound(p.high, p.type) : py::none();
  d["low_open"] = p.low_open;
  d["high_open"] = p.high_open;
  d["choices"] = p.type == ParamType::Str ? py::cast(p.choices) : py::none();
  d["doc"] = p.doc;
  d["per_group"] = p.per_group;
  return d;
}

py::dict entry_dict(const ComponentInfo& info) {
  py::dict d;
  d["name"] = info.name;
  d["aliases"] = info.aliases;
  d["doc"] = info.doc;
  py::list params;
  for (const auto& p : info.params) params.append(param_dict(p));
  d["params"] = params;
  for (const auto& [key, value] : info.caps)
    d[py::str(key)] = std::visit([](const auto& v) { return py::cast(v); }, value);
  return d;
}

template <class Entry>
py::list entries_list(const std::vector<Entry>& entries) {
  py::list out;
  for (const auto& e : entries) out.append(entry_dict(e.info));
  return out;
}

}  // namespace

void bind_registry(py::module_& m) {
  m.def(
      "registry",
      []() {
        py::dict d;
        d["activations"] = entries_list(activation_entries());
        d["losses"] = entries_list(loss_entries());
        d["optimizers"] = entries_list(optimizer_entries());
        d["layers"] = entries_list(layer_entries());
        return d;
      },
      R"doc(Every component the C++ core implements, by kind: {"activations", "losses",
"optimizers", "layers"} -> list of entries. An entry is a dict with "name" (canonical),
"aliases", "doc" and "params" (each {"name", "type" (float|int|bool|str), "default", "required",
"low", "high", "low_open", "high_open", "choices", "doc", "per_group"}), plus the kind's
capabilities (activations: "init", "learned", "learnable", "rowwise", "identity", "class"; losses:
"target", "pred", "classification"; layers: "batch_statistics", "buffers", ...).)doc");
}

}  // namespace fastnet::bind

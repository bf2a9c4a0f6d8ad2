// The typed description of a component (an activation, loss, optimizer or layer kind): its
// canonical name, aliases, doc, hyper-parameters with types, defaults and ranges, and the
// capabilities Python reads. Every registry (activations/, losses/, optim/, layers/) holds
// these, Python reads them through _core.registry() (csrc/bind/registry.cpp), and check_settings
// validates what a caller sends against them: one checker, one set of messages.
#pragma once
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace fastnet {

// A value of the wrong type (a string where a number is expected): TypeError in Python
// (csrc/bind/module.cpp registers the translation). Bad values stay std::invalid_argument
// (ValueError).
class type_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class ParamType { Float, Int, Bool, Str };

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Float;
  bool required = false;  // no default: the caller must send it
  double default_num = 0.0;
  std::string default_str;
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false, high_open = false;
  std::vector<std::string> choices;  // Str only; empty: any string
  std::string doc;
  // Optimizers: a per-parameter-group value (lr, weight_decay) that each parameter slot holds,
  // not a hyper-parameter of the update rule.
  bool per_group = false;

  ParamSpec& at_least(double v) {
    low = v;
    low_open = false;
    return *this;
  }
  ParamSpec& above(double v) {
    low = v;
    low_open = true;
    return *this;
  }
  ParamSpec& at_most(double v) {
    high = v;
    high_open = false;
    return *this;
  }
  ParamSpec& below(double v) {
    high = v;
    high_open = true;
    return *this;
  }
  ParamSpec& one_of(std::vector<std::string> c) {
    choices = std::move(c);
    return *this;
  }
  ParamSpec& group() {
    per_group = true;
    return *this;
  }
};

ParamSpec float_param(std::string name, double dflt, std::string doc);
ParamSpec int_param(std::string name, double dflt, std::string doc);
ParamSpec required_int(std::string name, std::string doc);
ParamSpec bool_param(std::string name, bool dflt, std::string doc);
ParamSpec str_param(std::string name, std::string dflt, std::string doc);

// Largest integer a config may carry (exact in a double; 2**62 floats is refused later, by the
// arena's own size check, with a message about the arena).
constexpr double kMaxIntParam = 4611686018427387904.0;  // 2**62

using Capability = std::variant<bool, double, std::string, std::vector<std::string>>;

struct ComponentInfo {
  std::string name;                  // canonical
  std::vector<std::string> aliases;  // other accepted spellings
  std::string doc;                   // one or two sentences, with the formula's source
  std::vector<ParamSpec> params;
  std::vector<std::pair<std::string, Capability>> caps;  // kind-specific capabilities

  const ParamSpec* param(const std::string& n) const;
  const Capability* cap(const std::string& n) const;
  bool flag(const std::string& n) const;  // a bool capability; false when absent
  std::string text(const std::string& n, const std::string& dflt = "") const;
};

// Values sent by a caller: numbers (bools and ints arrive as numbers) and strings.
struct Settings {
  std::map<std::string, double> num;
  std::map<std::string, std::string> str;

  double number(const std::string& k) const;  // throws std::logic_error when absent
  const std::string& string(const std::string& k) const;
};

// Checks `given` against the specs of `infos` (their params together): every key must be known
// (ValueError naming the key and `what`), a number where a number is expected (TypeError
// otherwise), integral for Int, 0/1 for Bool, inside [low, high] (open ends honoured) and one
// of `choices`; a missing key takes its default or, when required, is an error. Returns the
// complete settings, defaults filled in. `skip` lists keys handled by the caller (e.g. "kind").
Settings check_settings(const std::string& what, const std::vector<const ComponentInfo*>& infos,
                        const Settings& given, const std::vector<std::string>& skip = {});

// Looks `name` (or one of its aliases) up in `entries`; nullptr when unknown.
template <class Entry>
const Entry* find_entry(const std::vector<Entry>& entries, const std::string& name) {
  for (const auto& e : entries) {
    if (e.info.name == name) return &e;
    for (const auto& a : e.info.aliases)
      if (a == name) return &e;
  }
  return nullptr;
}

// "a, b, c": the canonical names of `entries`, for error messages.
template <class Entry>
std::string entry_names(const std::vector<Entry>& entries) {
  std::string s;
  for (const auto& e : entries) s += (s.empty() ? "" : ", ") + e.info.name;
  return s;
}

}  // namespace fastnet

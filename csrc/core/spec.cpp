#include "core/spec.h"

#include <cmath>
#include <sstream>

namespace fastnet {

namespace {

ParamSpec make(std::string name, ParamType type, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.doc = std::move(doc);
  return p;
}

// Shortest decimal form of a number ("0.1", "1e-05", "4611686018427387904").
std::string num_str(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  std::string s = os.str();
  for (int prec = 1; prec < 17; ++prec) {
    std::ostringstream t;
    t.precision(prec);
    t << v;
    if (std::stod(t.str()) == v) return t.str();
  }
  return s;
}

std::string range_str(const ParamSpec& p) {
  const std::string lo = std::isinf(p.low) ? "-inf" : num_str(p.low);
  const std::string hi = std::isinf(p.high) ? "inf" : num_str(p.high);
  return (p.low_open ? "(" : "[") + lo + ", " + hi + (p.high_open ? ")" : "]");
}

}  // namespace

ParamSpec float_param(std::string name, double dflt, std::string doc) {
  ParamSpec p = make(std::move(name), ParamType::Float, std::move(doc));
  p.default_num = dflt;
  return p;
}

ParamSpec int_param(std::string name, double dflt, std::string doc) {
  ParamSpec p = make(std::move(name), ParamType::Int, std::move(doc));
  p.default_num = dflt;
  p.low = -kMaxIntParam;
  p.high = kMaxIntParam;
  return p;
}

ParamSpec required_int(std::string name, std::string doc) {
  ParamSpec p = int_param(std::move(name), 0.0, std::move(doc));
  p.required = true;
  return p;
}

ParamSpec bool_param(std::string name, bool dflt, std::string doc) {
  ParamSpec p = make(std::move(name), ParamType::Bool, std::move(doc));
  p.default_num = dflt ? 1.0 : 0.0;
  return p;
}

ParamSpec str_param(std::string name, std::string dflt, std::string doc) {
  ParamSpec p = make(std::move(name), ParamType::Str, std::move(doc));
  p.default_str = std::move(dflt);
  return p;
}

const ParamSpec* ComponentInfo::param(const std::string& n) const {
  for (const auto& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

const Capability* ComponentInfo::cap(const std::string& n) const {
  for (const auto& [k, v] : caps)
    if (k == n) return &v;
  return nullptr;
}

bool ComponentInfo::flag(const std::string& n) const {
  const Capability* c = cap(n);
  return c && std::holds_alternative<bool>(*c) && std::get<bool>(*c);
}

std::string ComponentInfo::text(const std::string& n, const std::string& dflt) const {
  const Capability* c = cap(n);
  return c && std::holds_alternative<std::string>(*c) ? std::get<std::string>(*c) : dflt;
}

double Settings::number(const std::string& k) const {
  auto it = num.find(k);
  if (it == num.end()) throw std::logic_error("setting '" + k + "' was not checked");
  return it->second;
}

const std::string& Settings::string(const std::string& k) const {
  auto it = str.find(k);
  if (it == str.end()) throw std::logic_error("setting '" + k + "' was not checked");
  return it->second;
}

Settings check_settings(const std::string& what, const std::vector<const ComponentInfo*>& infos,
                        const Settings& given, const std::vector<std::string>& skip) {
  auto skipped = [&](const std::string& k) {
    for (const auto& s : skip)
      if (s == k) return true;
    return false;
  };
  auto spec_of = [&](const std::string& k) -> const ParamSpec* {
    for (const auto* info : infos)
      if (const ParamSpec* p = info->param(k)) return p;
    return nullptr;
  };
  auto known = [&]() {
    std::string s;
    for (const auto* info : infos)
      for (const auto& p : info->params) s += (s.empty() ? "" : ", ") + p.name;
    return s.empty() ? std::string("none") : s;
  };
  auto check_known = [&](const std::string& k) {
    if (skipped(k)) return;
    if (!spec_of(k))
      throw std::invalid_argument(what + ": unknown setting '" + k + "' (accepted: " + known() +
                                  ")");
  };
  for (const auto& [k, v] : given.num) check_known(k);
  for (const auto& [k, v] : given.str) check_known(k);

  Settings out;
  for (const auto* info : infos) {
    for (const ParamSpec& p : info->params) {
      const std::string where = what + ": " + p.name;
      auto n = given.num.find(p.name);
      auto s = given.str.find(p.name);
      if (p.type == ParamType::Str) {
        if (n != given.num.end()) throw type_error(where + " must be a string, got a number");
        if (s == given.str.end()) {
          if (p.required) throw std::invalid_argument(where + " is required");
          out.str[p.name] = p.default_str;
          continue;
        }
        if (!p.choices.empty()) {
          bool ok = false;
          std::string list;
          for (const auto& c : p.choices) {
            ok = ok || c == s->second;
            list += (list.empty() ? "'" : ", '") + c + "'";
          }
          if (!ok)
            throw std::invalid_argument(where + " must be one of " + list + ", got '" + s->second +
                                        "'");
        }
        out.str[p.name] = s->second;
        continue;
      }
      if (s != given.str.end()) throw type_error(where + " must be a number, got a string");
      if (n == given.num.end()) {
        if (p.required) throw std::invalid_argument(where + " is required");
        out.num[p.name] = p.default_num;
        continue;
      }
      const double v = n->second;
      if (std::isnan(v) || std::isinf(v))
        throw std::invalid_argument(where + " must be finite, got " + num_str(v));
      if (p.type == ParamType::Bool) {
        if (v != 0.0 && v != 1.0)
          throw std::invalid_argument(where + " must be True or False (0 or 1), got " + num_str(v));
      } else {
        if (p.type == ParamType::Int && v != std::floor(v))
          throw type_error(where + " must be an integer, got " + num_str(v));
        const bool low_bad = p.low_open ? !(v > p.low) : !(v >= p.low);
        const bool high_bad = p.high_open ? !(v < p.high) : !(v <= p.high);
        if (low_bad || high_bad)
          throw std::invalid_argument(where + " must be in " + range_str(p) + ", got " +
                                      num_str(v));
      }
      out.num[p.name] = v;
    }
  }
  return out;
}

}  // namespace fastnet

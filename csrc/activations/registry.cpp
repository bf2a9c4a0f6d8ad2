// The activation registry: names, aliases, hyper-parameters and capabilities of every kernel in
// csrc/activations/activation.cpp. Python derives its layer classes, the activation names it
// accepts and the init="auto" rule from these entries (fastnet/_registry.py).
#include <stdexcept>

#include "activations/activation.h"

namespace fastnet {

namespace {

ComponentInfo act(std::string name, std::string doc, std::string init, std::string cls) {
  ComponentInfo i;
  i.name = std::move(name);
  i.doc = std::move(doc);
  i.caps = {{"init", init}};
  if (!cls.empty()) i.caps.emplace_back("class", cls);
  return i;
}

std::vector<ActivationEntry> build() {
  std::vector<ActivationEntry> v;
  auto add = [&](ComponentInfo info, ActKind kind) { v.push_back({std::move(info), kind}); };

  ComponentInfo linear = act("linear", "The identity, f(x) = x (no activation).", "glorot", "");
  linear.aliases = {"none", "identity"};
  linear.caps.emplace_back("identity", true);
  add(linear, ActKind::None);
  add(act("sigmoid", "Logistic sigmoid, 1 / (1 + exp(-x)) (torch.nn.Sigmoid).", "glorot",
          "Sigmoid"),
      ActKind::Sigmoid);
  add(act("tanh", "Hyperbolic tangent (torch.nn.Tanh).", "glorot", "Tanh"), ActKind::Tanh);
  ComponentInfo softmax = act("softmax",
                              "Softmax over the features of each row, exp(x_i) / sum_j exp(x_j) "
                              "(torch.nn.Softmax(dim=1)).",
                              "glorot", "Softmax");
  softmax.caps.emplace_back("rowwise", true);
  add(softmax, ActKind::Softmax);
  add(act("relu", "Rectified linear unit, max(x, 0) (torch.nn.ReLU).", "he", "ReLU"),
      ActKind::ReLU);
  ComponentInfo leaky =
      act("leaky_relu", "Leaky ReLU, x for x > 0 else alpha * x (torch.nn.LeakyReLU).", "he",
          "LeakyReLU");
  leaky.params = {float_param("alpha", 0.01, "Slope for negative inputs.").at_least(0.0)};
  add(leaky, ActKind::LeakyReLU);
  ComponentInfo prelu = act("prelu",
                            "Parametric ReLU (He et al. 2015): x for x > 0 else a * x, with one "
                            "learned slope a per feature (torch.nn.PReLU).",
                            "he", "PReLU");
  prelu.params = {float_param("init", 0.25, "Initial value of every learned slope.")};
  prelu.caps.emplace_back("learned", true);
  add(prelu, ActKind::PReLU);
  ComponentInfo rrelu = act("rrelu",
                            "Randomized leaky ReLU (Xu et al. 2015): slope ~ U(lower, upper) per "
                            "element in training, (lower + upper) / 2 at inference "
                            "(torch.nn.RReLU).",
                            "he", "RReLU");
  rrelu.params = {
      float_param("lower", 1.0 / 8.0, "Lower bound of the random slope.").at_least(0.0),
      float_param("upper", 1.0 / 3.0, "Upper bound of the random slope.").at_least(0.0)};
  rrelu.caps.emplace_back("ordered", std::vector<std::string>{"lower", "upper"});
  rrelu.caps.emplace_back("random", true);  // training draws slopes: no fixed golden value
  add(rrelu, ActKind::RReLU);
  ComponentInfo elu = act("elu",
                          "Exponential linear unit (Clevert et al. 2016): x for x > 0 else "
                          "alpha * (exp(x) - 1) (torch.nn.ELU).",
                          "he", "ELU");
  elu.params = {float_param("alpha", 1.0, "Saturation value for negative inputs.").at_least(0.0)};
  add(elu, ActKind::ELU);
  add(act("selu",
          "Scaled ELU (Klambauer et al. 2017), scale * (x for x > 0 else alpha * (exp(x) - 1)); "
          "pairs with lecun_normal init and AlphaDropout (torch.nn.SELU).",
          "lecun", "SELU"),
      ActKind::SELU);
  add(act("gelu",
          "Gaussian error linear unit (Hendrycks & Gimpel 2016), x * Phi(x) "
          "(torch.nn.GELU(approximate='none')).",
          "he", ""),
      ActKind::GELU);
  add(act("gelu_tanh",
          "GELU with the tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + "
          "0.044715 x^3))) (torch.nn.GELU(approximate='tanh')).",
          "he", ""),
      ActKind::GELUTanh);
  ComponentInfo swish = act("swish",
                            "Swish (Ramachandran et al. 2017), x * sigmoid(beta * x), with a "
                            "fixed beta or one learned per feature; beta = 1 is SiLU "
                            "(torch.nn.SiLU).",
                            "he", "Swish");
  swish.aliases = {"silu"};
  swish.params = {
      float_param("beta", 1.0, "beta of x * sigmoid(beta * x); the initial value when learned."),
      bool_param("learnable", false,
                 "Learn one beta per feature (a 'beta' parameter in the arena, started at "
                 "beta); the width comes from the input.")};
  // The bool switch and the parameter whose value starts the learned per-feature vector (an
  // arena tensor of the same name).
  swish.caps.emplace_back("learnable", std::vector<std::string>{"learnable", "beta"});
  swish.caps.emplace_back("class_aliases", std::vector<std::string>{"SiLU"});
  add(swish, ActKind::Swish);
  add(act("mish", "Mish (Misra 2019), x * tanh(softplus(x)) (torch.nn.Mish).", "he", "Mish"),
      ActKind::Mish);
  return v;
}

}  // namespace

const std::vector<ActivationEntry>& activation_entries() {
  static const std::vector<ActivationEntry> v = build();
  return v;
}

const ActivationEntry& activation_entry(const std::string& name) {
  if (const ActivationEntry* e = find_entry(activation_entries(), name)) return *e;
  throw std::invalid_argument("unknown activation '" + name +
                              "'; expected one of: " + entry_names(activation_entries()));
}

}  // namespace fastnet

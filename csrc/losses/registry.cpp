// The loss registry: names, Keras aliases, hyper-parameters and capabilities of every kernel in
// csrc/losses/loss.cpp. Python derives fn.losses, the loss names train_step and fit accept and
// the hyper-parameter checks from these entries (fastnet/_registry.py).
#include <stdexcept>

#include "losses/loss.h"

namespace fastnet {

namespace {

constexpr double kFloat32Max = 3.4028234663852886e38;

ComponentInfo loss(std::string name, std::vector<std::string> aliases, std::string doc,
                   std::string target = "dense", std::string pred = "any") {
  ComponentInfo i;
  i.name = std::move(name);
  i.aliases = std::move(aliases);
  i.doc = std::move(doc);
  i.caps = {{"target", target}, {"pred", pred}};
  return i;
}

ParamSpec from_logits(bool dflt) {
  return bool_param("from_logits", dflt, "pred holds logits (True) or probabilities (False).");
}

std::vector<LossEntry> build() {
  std::vector<LossEntry> v;
  auto add = [&](ComponentInfo info, LossKind kind, bool classification = false) {
    info.caps.emplace_back("classification", classification);
    v.push_back({std::move(info), kind});
  };
  add(loss("mse", {"mean_squared_error"}, "Mean squared error, mean((p - t)^2) (Keras)."),
      LossKind::MSE);
  add(loss("mae", {"mean_absolute_error"},
           "Mean absolute error, mean(abs(p - t)); subgradient sign(0) = 0 (torch.nn.L1Loss)."),
      LossKind::MAE);
  ComponentInfo huber = loss("huber", {},
                             "Huber loss (Keras huber, torch.nn.HuberLoss): 0.5 e^2 if abs(e) <= "
                             "delta, else delta (abs(e) - 0.5 delta), averaged over all elements.");
  huber.params = {
      float_param("delta", 1.0, "Where the quadratic part ends.").above(0.0).at_most(kFloat32Max)};
  add(huber, LossKind::Huber);
  add(loss("log_cosh", {"logcosh"}, "mean(log(cosh(p - t))) (Keras log_cosh), computed stably."),
      LossKind::LogCosh);
  add(loss("mape", {"mean_absolute_percentage_error"},
           "Mean absolute percentage error, 100 mean(abs(t - p) / max(abs(t), 1e-7)) (Keras)."),
      LossKind::MAPE);
  add(loss("msle", {"mean_squared_logarithmic_error"},
           "Mean squared logarithmic error (Keras), mean((log1p(max(p, 1e-7)) - "
           "log1p(max(t, 1e-7)))^2)."),
      LossKind::MSLE);
  // The kernel reads a target of 0 as -1, so 0/1 labels work as they are (the only mapping).
  add(loss("hinge", {},
           "Hinge loss mean(max(1 - t p, 0)) (Keras), targets -1/+1; a target of 0 "
           "is read as -1."),
      LossKind::Hinge);
  add(loss("squared_hinge", {},
           "Squared hinge loss mean(max(1 - t p, 0)^2) (Keras); targets as for hinge."),
      LossKind::SquaredHinge);
  add(loss("categorical_hinge", {},
           "Categorical hinge (Keras): per sample max(max_j (1 - t_j) p_j - sum_j t_j p_j + 1, 0), "
           "averaged over the batch."),
      LossKind::CategoricalHinge, true);
  ComponentInfo bce = loss("binary_crossentropy", {},
                           "Binary cross-entropy averaged over all elements (Keras): "
                           "probabilities clipped to [1e-7, 1 - 1e-7]; logits: max(x, 0) - x t "
                           "+ log1p(exp(-abs(x))).");
  bce.params = {from_logits(false)};
  add(bce, LossKind::BinaryCrossentropy);
  ComponentInfo cce = loss("categorical_crossentropy", {},
                           "Categorical cross-entropy -sum(t log q) per sample, averaged over the "
                           "batch (Keras); q is pred normalized per row and clipped to "
                           "[1e-7, 1 - 1e-7], or softmax(pred) for logits (torch cross_entropy).",
                           "dense", "probabilities");
  cce.params = {from_logits(false)};
  add(cce, LossKind::CategoricalCrossentropy, true);
  ComponentInfo scce = loss("sparse_categorical_crossentropy", {},
                            "Cross-entropy with integer class labels, averaged over the batch; "
                            "logits by default (torch cross_entropy), probabilities normalized "
                            "and clipped as Keras does.",
                            "labels", "probabilities");
  scce.params = {from_logits(true)};
  add(scce, LossKind::SparseCategoricalCrossentropy, true);
  add(loss("kl_divergence", {"kld", "kullback_leibler_divergence"},
           "Kullback-Leibler divergence sum(t log(t / p)) per sample, t and p clipped to "
           "[1e-7, 1] (Keras); averaged over the batch."),
      LossKind::KLDivergence);
  add(loss("poisson", {}, "Poisson loss mean(p - t log(p + 1e-7)) (Keras); pred are rates.",
           "dense", "non_negative"),
      LossKind::Poisson);
  add(loss("cosine_similarity", {},
           "Negative cosine similarity -cos(p, t) per sample (Keras), averaged over the batch; "
           "norms floored at sqrt(1e-12)."),
      LossKind::CosineSimilarity);
  return v;
}

}  // namespace

const std::vector<LossEntry>& loss_entries() {
  static const std::vector<LossEntry> v = build();
  return v;
}

const LossEntry& loss_entry(const std::string& name) {
  if (const LossEntry* e = find_entry(loss_entries(), name)) return *e;
  throw std::invalid_argument("unknown loss '" + name +
                              "'; expected one of: " + entry_names(loss_entries()));
}

LossSettings loss_settings(const std::string& name, const Settings& values) {
  const LossEntry& e = loss_entry(name);
  const Settings s = check_settings(e.info.name, {&e.info}, values);
  LossSettings out;
  out.kind = e.kind;
  auto it = s.num.find("delta");
  if (it != s.num.end()) out.params.delta = static_cast<float>(it->second);
  it = s.num.find("from_logits");
  if (it != s.num.end()) out.params.from_logits = it->second != 0.0;
  return out;
}

}  // namespace fastnet

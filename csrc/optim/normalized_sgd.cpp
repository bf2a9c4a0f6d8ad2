// Normalized gradient descent: w ← w − lr·g/‖g‖ (seed 001), optionally with SGD's momentum,
// dampening, Nesterov momentum and L2 weight decay applied to the normalized gradient.
// ‖g‖ is the global L2 norm of the trainable gradients, or each layer's (per_layer): the
// optimizer base scales the gradient by 1 / max(‖g‖, eps) in the fused pass (optimizer.cpp
// gradient_scales), so the update kernels and their reference twins are SGD's.
#include <stdexcept>

#include "optim/registry.h"
#include "optim/sgd.h"

namespace fastnet {

namespace {

ComponentInfo info() {
  ComponentInfo i;
  i.name = "normalized_sgd";
  i.caps = {{"class", std::string("NormalizedSGD")}};
  i.doc =
      "Normalized gradient descent: w <- w - lr * g / max(||g||, eps), the step length set by "
      "the rate alone (||g|| the global L2 norm of the trainable gradients, or each layer's "
      "[W, b] with per_layer=True). A zero gradient gives a zero step. Momentum, dampening, "
      "Nesterov and weight decay act on the normalized gradient as in torch.optim.SGD; the "
      "clip keywords act on the normalized gradient too.";
  i.params = {
      lr_param(1e-2),
      float_param("momentum", 0.0, "Momentum factor.").at_least(0.0),
      float_param("dampening", 0.0, "Dampening of the momentum.").at_least(0.0).at_most(1.0),
      bool_param("nesterov", false, "Nesterov momentum (needs momentum > 0, dampening 0)."),
      float_param("eps", 1e-8, "Floor of the norm the gradient is divided by.").above(0.0),
      bool_param("per_layer", false, "Divide each layer's gradient by its own norm."),
      weight_decay_param(0.0)};
  return i;
}

const OptimizerRegistrar registrar(
    info(), [](const Settings& h, OptimizerArgs&& a) -> std::unique_ptr<Optimizer> {
      auto opt = make_sgd(h, std::move(a));
      opt->normalize = h.number("per_layer") != 0.0 ? NormalizeMode::Layer : NormalizeMode::Global;
      opt->normalize_eps = h.number("eps");
      return opt;
    });

}  // namespace

}  // namespace fastnet

// Optimizer construction by name. hparams are positional, in the order fastnet/optim/ sends.
#include <stdexcept>

#include "adadelta.h"
#include "adagrad.h"
#include "adam.h"
#include "nadam.h"
#include "rmsprop.h"
#include "sgd.h"

namespace fastnet {

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind,
                                          const std::vector<double>& h,
                                          std::shared_ptr<Model> model,
                                          std::vector<ParamSlot> slots, ClipMode clip_mode,
                                          float clip_value) {
  auto need = [&](size_t n) {
    if (h.size() != n)
      throw std::invalid_argument(kind + ": expected " + std::to_string(n) + " hyper-parameters");
  };
  auto f = [&](size_t i) { return static_cast<float>(h[i]); };
  if (kind == "sgd") {  // momentum, dampening, nesterov
    need(3);
    return std::make_unique<SGD>(std::move(model), std::move(slots), clip_mode, clip_value,
                                 f(0), f(1), h[2] != 0.0);
  }
  if (kind == "adagrad") {  // lr_decay, initial_accumulator_value, eps
    need(3);
    return std::make_unique<Adagrad>(std::move(model), std::move(slots), clip_mode, clip_value,
                                     f(0), f(1), f(2));
  }
  if (kind == "rmsprop") {  // alpha, eps, momentum, centered
    need(4);
    return std::make_unique<RMSprop>(std::move(model), std::move(slots), clip_mode, clip_value,
                                     f(0), f(1), f(2), h[3] != 0.0);
  }
  if (kind == "adadelta") {  // rho, eps
    need(2);
    return std::make_unique<Adadelta>(std::move(model), std::move(slots), clip_mode, clip_value,
                                      f(0), f(1));
  }
  if (kind == "adam" || kind == "adamw") {  // beta1, beta2, eps, amsgrad
    need(4);
    return std::make_unique<Adam>(std::move(model), std::move(slots), clip_mode, clip_value,
                                  f(0), f(1), f(2), h[3] != 0.0, kind == "adamw");
  }
  if (kind == "nadam") {  // beta1, beta2, eps, momentum_decay
    need(4);
    return std::make_unique<Nadam>(std::move(model), std::move(slots), clip_mode, clip_value,
                                   f(0), f(1), f(2), f(3));
  }
  throw std::invalid_argument("unknown optimizer '" + kind + "'");
}

}  // namespace fastnet

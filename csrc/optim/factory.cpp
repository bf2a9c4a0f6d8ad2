// Optimizer construction by name. hparams are positional, in the order fastnet/optim/ sends.
#include <stdexcept>

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
  if (kind == "sgd") {  // momentum, dampening, nesterov
    need(3);
    return std::make_unique<SGD>(std::move(model), std::move(slots), clip_mode, clip_value,
                                 static_cast<float>(h[0]), static_cast<float>(h[1]), h[2] != 0.0);
  }
  throw std::invalid_argument("unknown optimizer '" + kind + "'");
}

}  // namespace fastnet

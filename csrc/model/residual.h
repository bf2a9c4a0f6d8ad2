// Residual block (He et al. 2016): y = x + scale·f(x), f a stack of child layers mapping the
// width to itself; scale < 1 is residual scaling (Szegedy et al. 2017).
#pragma once
#include <memory>

#include "layer.h"

namespace fastnet {

std::unique_ptr<Layer> make_residual_layer(const LayerConfig& cfg);

}  // namespace fastnet

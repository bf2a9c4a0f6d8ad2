// The activation settings a layer carries (Dense's fused activation, the activation layer) and
// the per-call parameters bound from them: PReLU's slope in the arena, RReLU's random stream
// for this layer and step.
#pragma once
#include "activations/activation.h"
#include "core/rng.h"
#include "layers/layer.h"

namespace fastnet {

// alpha, lower, upper and beta from checked settings, where the layer kind or its activation has
// them.
inline ActParams act_params_from(const LayerConfig& cfg) {
  ActParams p;
  auto value = [&](const char* k, float dflt) {
    auto it = cfg.values.num.find(k);
    return it == cfg.values.num.end() ? dflt : static_cast<float>(it->second);
  };
  p.alpha = value("alpha", p.alpha);
  p.lower = value("lower", p.lower);
  p.upper = value("upper", p.upper);
  p.beta = value("beta", p.beta);
  return p;
}

inline ActParams bind_act_params(const ActParams& base, ActKind act, const ParamDecl& slope,
                                 int index, const StepContext& ctx) {
  ActParams ap = base;
  if (act == ActKind::PReLU) ap.slope = ctx.params + slope.offset;
  ap.rng_key = layer_rng_key(ctx.seed, index, ctx.step);
  return ap;
}

}  // namespace fastnet

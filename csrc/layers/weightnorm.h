// Weight normalization (Salimans & Kingma 2016) of a Dense layer: W = g·v/‖v‖ per output
// unit, v (in, out) and g (out,) in the arena. W is materialized in the workspace so the
// plain Dense kernels do the rest; the gradients follow the paper's eq. (3):
//   ∇g = Σ_i ∇W_ij·v_ij/‖v_j‖,   ∇v = (g/‖v‖)·∇W − (g·∇g/‖v‖²)·v.
// The plain reference is finite differences and NumPy in tests/test_normalization.py.
#pragma once
#include <cstdint>
#include <memory>

namespace fastnet {

// norm_j = ‖v[:, j]‖ (double accumulation), W = v·(g/norm) column-wise.
void weightnorm_weight(const float* v, const float* g, float* W, float* norm, int64_t in,
                       int64_t out);

// dv holds ∇W on entry and ∇v on exit; dg (out) is overwritten.
void weightnorm_backward(const float* v, const float* g, const float* norm, float* dv, float* dg,
                         int64_t in, int64_t out);

// Dense with weight_norm set (csrc/layers/dense.cpp builds it for that setting).
class Layer;
struct LayerConfig;
std::unique_ptr<Layer> make_weightnorm_dense_layer(const LayerConfig& cfg);

}  // namespace fastnet

// What follows the product in a fused inference step, per output column:
// y = act(z·scale + shift). A Dense's bias is the shift; a BatchNorm after it folds in as
// scale = γ/√(running_var + eps) and shift = (b − running_mean)·scale + β (Ioffe & Szegedy
// 2015, §3.1: at inference the normalization is a linear transform of each activation).
#pragma once
#include <cstdint>

#include "activations/activation.h"

namespace fastnet {

struct Epilogue {
  const float* scale = nullptr;  // per column; null: 1
  const float* shift = nullptr;  // per column; null: 0
  ActKind act = ActKind::None;
  ActParams ap;  // alpha (LeakyReLU, ELU), lower/upper (RReLU), slope (PReLU, per column)
};

// The activations the fused kernels apply while the tile is still in registers (piecewise
// linear: one compare and one multiply). The others run as one pass over the finished rows.
enum class RegisterAct : int { None = 0, ReLU, Leaky, PerColumn };

inline bool register_act(const Epilogue& e, RegisterAct* mode, float* alpha) {
  switch (e.act) {
    case ActKind::None:
      *mode = RegisterAct::None;
      return true;
    case ActKind::ReLU:
      *mode = RegisterAct::ReLU;
      return true;
    case ActKind::LeakyReLU:
      *mode = RegisterAct::Leaky;
      *alpha = e.ap.alpha;
      return true;
    case ActKind::RReLU:  // inference: the fixed slope (lower + upper) / 2 (torch.nn.RReLU)
      *mode = RegisterAct::Leaky;
      *alpha = 0.5f * (e.ap.lower + e.ap.upper);
      return true;
    case ActKind::PReLU:
      *mode = RegisterAct::PerColumn;
      return true;
    default:
      return false;
  }
}

// Plain reference: Y's rows [0, rows) × columns [c0, c1) (row stride ld) hold z; they become
// act(z·scale + shift) in one pass (the activation by activation_forward, row by row).
void epilogue_apply(const Epilogue& e, float* Y, int64_t rows, int64_t ld, int64_t c0, int64_t c1);
// Only the activation part, for rows the fused kernel already scaled and shifted.
void epilogue_activation(const Epilogue& e, float* Y, int64_t rows, int64_t ld, int64_t c0,
                         int64_t c1);

}  // namespace fastnet

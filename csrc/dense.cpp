#include "dense.h"

#include "blas.h"

namespace fastnet {

void dense_forward(const float* X, const float* W, const float* b, float* Z, float* Y,
                   int64_t batch, int64_t in, int64_t out, ActKind act, const ActParams& ap,
                   bool training) {
  sgemm(false, false, batch, out, in, 1.0f, X, in, W, out, 0.0f, Z, out);
  if (b || act != ActKind::None || Y != Z)
    activation_forward(act, ap, Z, b, Y, batch, out, training);
}

void dense_backward(const float* X, const float* W, const float* Z, const float* Y, float* dY,
                    float* dW, float* db, float* dX, float* dslope, int64_t batch, int64_t in,
                    int64_t out, ActKind act, const ActParams& ap, bool training, float* Wt) {
  if (act != ActKind::None || db)
    activation_backward(act, ap, Z, Y, dY, dY, db, dslope, batch, out, training);
  float* dZ = dY;
  sgemm(true, false, in, out, batch, 1.0f, X, in, dZ, out, 0.0f, dW, out);
  if (!dX) return;
  if (Wt) {
    transpose(W, Wt, in, out);  // Wt (out, in) = Wᵀ
    sgemm(false, false, batch, in, out, 1.0f, dZ, out, Wt, in, 0.0f, dX, in);
  } else {
    sgemm(false, true, batch, in, out, 1.0f, dZ, out, W, out, 0.0f, dX, in);
  }
}

}  // namespace fastnet

// Gradient clipping on a model's gradient arena for hand-written loops
// (torch.nn.utils.clip_grad_norm_ / clip_grad_value_). The optimizers fold clipping into their
// update pass instead (optimizer.h); these write the clipped gradients back.
#pragma once
#include <vector>

#include "core/reduce.h"

namespace fastnet {

// Global L2 norm of the segments (one segment_sumsq reduction); when finite, every element is
// scaled by min(1, max_norm / (norm + 1e-6)) in one pass. A non-finite norm leaves g untouched.
// Returns the norm before clipping.
double clip_grad_norm(float* g, const std::vector<Segment>& segs, double max_norm);

// Clamps every element of the segments to [−clip, clip] in one pass.
void clip_grad_value(float* g, const std::vector<Segment>& segs, float clip);

}  // namespace fastnet

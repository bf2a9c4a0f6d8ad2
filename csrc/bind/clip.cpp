// Binding of the gradient-clipping functions (csrc/optim/clip.h). Segments arrive as (offset, size)
// pairs already validated by fastnet/optim/clip.py.
#include "optim/clip.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mutex>
#include <shared_mutex>

#include "bind/common.h"
#include "engine/model.h"

namespace fastnet::bind {

namespace {
std::vector<fastnet::Segment> checked_segments(fastnet::Model& model,
                                               const std::vector<std::pair<size_t, size_t>>& s) {
  std::vector<fastnet::Segment> segs;
  for (auto& [offset, size] : s) {
    if (offset > model.arena_floats() || size > model.arena_floats() - offset)
      throw py::value_error("gradient segment outside the model's arena");
    segs.push_back({offset, size});
  }
  return segs;
}
}  // namespace

void bind_clip(py::module_& m) {
  m.def("clip_grad_norm",
        [](fastnet::Model& model, std::vector<std::pair<size_t, size_t>> s, double max_norm) {
          auto segs = checked_segments(model, s);
          py::gil_scoped_release nogil;
          std::unique_lock<std::shared_mutex> lock(model.mutex);
          return fastnet::clip_grad_norm(model.grads(), segs, max_norm);
        });
  m.def("clip_grad_value",
        [](fastnet::Model& model, std::vector<std::pair<size_t, size_t>> s, float clip) {
          auto segs = checked_segments(model, s);
          py::gil_scoped_release nogil;
          std::unique_lock<std::shared_mutex> lock(model.mutex);
          fastnet::clip_grad_value(model.grads(), segs, clip);
        });
}

}  // namespace fastnet::bind

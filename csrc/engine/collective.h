// Data-parallel collectives through the MPI library that mpi4py loaded: fastnet is never
// linked against MPI; fastnet/distributed.py hands over the address of MPI_Allreduce and the
// handles (communicator, datatypes, op) as integers. One training step is one "round" of
// collectives in a fixed order that every rank follows:
//   1. per synchronised BatchNorm layer, in forward order: its batch sums (2F + 1 doubles);
//   2. per synchronised BatchNorm layer, in backward order: its gradient sums (2F doubles);
//   3. the gradient arena (floats), which ends the round.
// Every collective carries one extra element, an error flag (summed over ranks), so a rank
// that fails anywhere completes the round with the flag set (fail_round) and every rank
// learns of it at the end of the round instead of waiting forever in a collective.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace fastnet {

// Raised on the ranks whose step was fine when another rank flagged an error in the round.
struct PeerFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Collective {
 public:
  // Handle conventions: Open MPI's handles are pointers, MPICH's are ints (mpi.h of each).
  enum class Abi { OpenMPI, MPICH };
  Collective(Abi abi, uintptr_t allreduce, uintptr_t comm, uintptr_t f32, uintptr_t f64,
             uintptr_t sum, int rank, int world);

  const int rank, world;
  // Features of each BatchNorm layer in forward order (the model fills it), and whether
  // their batch statistics are synchronised (then steps 1 and 2 of a round run).
  std::vector<int64_t> bn_features;
  bool sync_bn = true;

  // Step 1/2 of a round: all-reduce (sum) n doubles; buf holds n + 1 (the flag slot).
  // Returns false when some rank has flagged an error in this round.
  bool reduce_doubles(double* buf, size_t n);
  // Step 3: all-reduce (sum) n floats (buf holds n + 1) and end the round. local_error flags
  // this rank's failure. Returns false when any rank failed during the round.
  bool reduce_final(float* buf, size_t n, bool local_error);
  // Completes the current round with the error flag set and zeros as data (the final
  // collective has final_floats floats): a rank that failed keeps its peers matched.
  void fail_round(size_t final_floats);
  // A whole round from between steps: the BatchNorm collectives with zeros, then the final
  // one with `payload` at the front of final_floats. Returns false when a rank failed.
  bool exchange(std::vector<float>& payload, size_t final_floats, bool local_error);
  // Whether the last finished round carried an error flag (every rank knows it then).
  bool last_round_failed() const { return last_failed_; }
  // Collectives done in the current round (0 between rounds).
  size_t position() const { return done_; }
  // Final (gradient) all-reduces so far and the seconds spent in them (bench/distributed.py).
  int64_t final_calls = 0;
  double final_seconds = 0.0;

 private:
  void allreduce(void* buf, size_t n, bool doubles);
  size_t round_length() const { return 2 * (sync_bn ? bn_features.size() : 0) + 1; }
  size_t sync_size(size_t k) const;  // elements (without the flag) of collective k < length-1

  Abi abi_;
  uintptr_t allreduce_, comm_, f32_, f64_, sum_;
  size_t done_ = 0;
  bool failed_ = false, last_failed_ = false;
};

}  // namespace fastnet

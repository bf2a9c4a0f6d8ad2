#include "engine/collective.h"

#include <chrono>
#include <climits>
#include <stdexcept>
#include <string>

namespace fastnet {

namespace {

// MPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm) with each library's handle type.
using AllreducePtr = int (*)(const void*, void*, int, void*, void*, void*);
using AllreduceInt = int (*)(const void*, void*, int, int, int, int);

// MPI_IN_PLACE: ((void *) 1) in Open MPI's mpi.h, ((void *) -1) in MPICH's.
const void* in_place(Collective::Abi abi) {
  return abi == Collective::Abi::OpenMPI ? reinterpret_cast<const void*>(1)
                                         : reinterpret_cast<const void*>(-1);
}

}  // namespace

Collective::Collective(Abi abi, uintptr_t allreduce, uintptr_t comm, uintptr_t f32, uintptr_t f64,
                       uintptr_t sum, int rank_, int world_)
    : rank(rank_),
      world(world_),
      abi_(abi),
      allreduce_(allreduce),
      comm_(comm),
      f32_(f32),
      f64_(f64),
      sum_(sum) {
  if (!allreduce) throw std::invalid_argument("MPI_Allreduce address is null");
  if (world < 1 || rank < 0 || rank >= world) throw std::invalid_argument("bad rank / world");
}

void Collective::allreduce(void* buf, size_t n, bool doubles) {
  if (n > static_cast<size_t>(INT_MAX))
    throw std::length_error("a collective of more than 2^31 elements");
  const int count = static_cast<int>(n);
  const uintptr_t type = doubles ? f64_ : f32_;
  int rc;
  if (abi_ == Abi::OpenMPI)
    rc = reinterpret_cast<AllreducePtr>(allreduce_)(
        in_place(abi_), buf, count, reinterpret_cast<void*>(type), reinterpret_cast<void*>(sum_),
        reinterpret_cast<void*>(comm_));
  else
    rc = reinterpret_cast<AllreduceInt>(allreduce_)(in_place(abi_), buf, count,
                                                    static_cast<int>(type), static_cast<int>(sum_),
                                                    static_cast<int>(comm_));
  // MPI's default error handler aborts the job; a communicator set to return errors lands here.
  if (rc != 0) throw std::runtime_error("MPI_Allreduce failed with code " + std::to_string(rc));
}

size_t Collective::sync_size(size_t k) const {
  const size_t layers = bn_features.size();
  if (k < layers) return static_cast<size_t>(2 * bn_features[k] + 1);  // sums and the row count
  return static_cast<size_t>(2 * bn_features[2 * layers - 1 - k]);     // backward: reversed order
}

bool Collective::reduce_doubles(double* buf, size_t n) {
  if (done_ + 1 >= round_length() || sync_size(done_) != n)
    throw std::logic_error("collective out of order: a BatchNorm sync outside its place");
  buf[n] = failed_ ? 1.0 : 0.0;
  allreduce(buf, n + 1, true);
  failed_ = failed_ || buf[n] > 0.0;
  ++done_;
  return !failed_;
}

bool Collective::reduce_final(float* buf, size_t n, bool local_error) {
  if (done_ + 1 != round_length())
    throw std::logic_error("collective out of order: the round's BatchNorm syncs did not run");
  failed_ = failed_ || local_error;
  buf[n] = failed_ ? 1.0f : 0.0f;
  const auto t0 = std::chrono::steady_clock::now();
  allreduce(buf, n + 1, false);
  final_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++final_calls;
  last_failed_ = failed_ || buf[n] > 0.0f;
  failed_ = false;
  done_ = 0;
  return !last_failed_;
}

void Collective::fail_round(size_t final_floats) {
  failed_ = true;
  while (done_ + 1 < round_length()) {
    std::vector<double> zeros(sync_size(done_) + 1, 0.0);
    reduce_doubles(zeros.data(), zeros.size() - 1);
  }
  std::vector<float> zeros(final_floats + 1, 0.0f);
  reduce_final(zeros.data(), final_floats, true);
}

bool Collective::exchange(std::vector<float>& payload, size_t final_floats, bool local_error) {
  if (done_ != 0) throw std::logic_error("exchange() in the middle of a step's collectives");
  if (payload.size() > final_floats) throw std::length_error("exchange payload too large");
  failed_ = local_error;
  while (done_ + 1 < round_length()) {
    std::vector<double> zeros(sync_size(done_) + 1, 0.0);
    reduce_doubles(zeros.data(), zeros.size() - 1);
  }
  std::vector<float> buf(final_floats + 1, 0.0f);
  std::copy(payload.begin(), payload.end(), buf.begin());
  const bool ok = reduce_final(buf.data(), final_floats, local_error);
  std::copy(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(payload.size()),
            payload.begin());
  return ok;
}

}  // namespace fastnet

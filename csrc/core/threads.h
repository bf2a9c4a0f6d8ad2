// fastnet's own thread pool: one process-wide team that every parallel loop and every split
// GEMM runs on. It replaces OpenMP (libgomp hangs in a forked child, keeps its thread count
// per calling thread, and spins in barriers that a descheduled thread turns into 30x tails)
// and OpenBLAS's threading (OpenBLAS runs single-threaded; its process-wide thread count is
// set once at load and never flipped per call).
//
// - Any number of Python threads may call in at once. A call whose pool is busy with another
//   caller's job (or that is already inside a pool task) runs its chunks itself, in order:
//   no nesting, no oversubscription, no waiting on another caller.
// - Work is cut into chunks that depend only on the problem and the configured thread count,
//   never on which thread runs them, so results are the same whether the pool helped or not.
// - Chunks are claimed dynamically: the caller starts at once and never waits for a worker to
//   wake; a worker that is descheduled (a busy neighbour on the box) leaves its share to the
//   others. Idle workers spin up to 1 ms, then sleep on a condition variable; when workers
//   keep coming back late (a busy box), callers run their jobs alone for a while.
// - A forked child gets a fresh, empty pool (pthread_atfork); workers are created lazily.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace fastnet {

// Upper bound accepted by set_num_threads (a typo such as 10**6 must not spawn a million threads).
constexpr int kMaxThreads = 1024;

// Process-wide thread count (the caller counts as one), 1..kMaxThreads.
void set_num_threads(int n);
int num_threads();
// Microseconds an idle worker spins for the next job before it sleeps (FASTNET_SPIN_US at
// load; default 1000).
void set_spin_us(int us);
int spin_us();
// Worker threads created so far in this process (0 in a fresh fork child until first use).
int pool_workers();
// Jobs after which the pool backed off because a worker came back late (a busy box).
int64_t pool_late_jobs();
// True on a thread that is running a pool chunk (the caller's own chunks included).
bool in_pool_task();

using ChunkFn = void (*)(void* ctx, int64_t chunk);
// Runs fn(ctx, c) for every c in [0, chunks), on the caller and the pool's workers, and
// returns when all have finished. An exception thrown by a chunk is rethrown here (the other
// chunks still run).
void run_chunks(int64_t chunks, ChunkFn fn, void* ctx);

template <class F>
inline void run_chunks(int64_t chunks, F&& f) {
  using Fn = std::remove_reference_t<F>;
  run_chunks(
      chunks, [](void* ctx, int64_t c) { (*static_cast<Fn*>(ctx))(c); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace fastnet

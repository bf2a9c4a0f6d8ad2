#include "core/threads.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/parallel.h"

namespace fastnet {

namespace {

// The job word packs generation (24 bits) | chunk count (20) | next unclaimed chunk (20), so a
// claim is one compare-and-swap that also proves the job is still the one being run: a worker
// that wakes late can never claim a chunk of a job that has ended.
constexpr int kChunkBits = 20;
constexpr uint64_t kChunkMask = (uint64_t{1} << kChunkBits) - 1;
constexpr int64_t kMaxChunks = static_cast<int64_t>(kChunkMask);

inline uint64_t pack(uint64_t gen, uint64_t total, uint64_t next) {
  return (gen << (2 * kChunkBits)) | (total << kChunkBits) | next;
}
inline uint64_t gen_of(uint64_t w) { return w >> (2 * kChunkBits); }
inline uint64_t total_of(uint64_t w) { return (w >> kChunkBits) & kChunkMask; }
inline uint64_t next_of(uint64_t w) { return w & kChunkMask; }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

thread_local bool t_in_task = false;

// Back-off when the box is busy: a worker that the OS deschedules in the middle of a chunk
// (another process wants its core) makes the caller wait for a whole scheduler time slice
// (~4 ms measured here), for a job worth microseconds. When the caller has waited longer than
// kLateNs and more than twice as long as its own share took (a worker that merely started or
// ran a little slower on a quiet box waits less: 0.7-1.1 ms against 0.6 ms shares measured),
// the next jobs of the process run on their callers alone (same chunks, same results) for a
// back-off period. A late job within kRepeatNs of the
// previous one doubles the period (kSoloMinNs .. kSoloMaxNs), so a box that stays busy costs
// one late job every kSoloMaxNs (also when requests come in bursts with idle gaps between);
// a lone hiccup on a quiet box costs one short period. A worker that finds, while spinning,
// that it was itself descheduled for more than kPreemptedNs reports the same: the box has
// more runnable threads than cores, and one more spinning thread only steals time from the
// caller (batch-1 predict beside a busy loop: p99 2.1 ms with workers spinning on).
constexpr int64_t kLateNs = 1000 * 1000;
constexpr int64_t kSoloMinNs = 100 * 1000 * 1000;
constexpr int64_t kSoloMaxNs = 1280 * 1000 * 1000;
constexpr int64_t kRepeatNs = 10000LL * 1000 * 1000;
constexpr int64_t kPreemptedNs = 300 * 1000;
std::atomic<int64_t> g_solo_until{0};
std::atomic<int64_t> g_solo_ns{kSoloMinNs};
std::atomic<int64_t> g_last_late{-2 * kSoloMaxNs};
std::atomic<int64_t> g_late_jobs{0};

// The box is busy (a late worker, or a worker that was descheduled): callers run alone for
// the next back-off period.
void back_off(int64_t now) {
  int64_t solo = g_solo_ns.load(std::memory_order_relaxed);
  solo = now - g_last_late.load(std::memory_order_relaxed) < kRepeatNs
             ? std::min(2 * solo, kSoloMaxNs)
             : kSoloMinNs;
  g_solo_ns.store(solo, std::memory_order_relaxed);
  g_last_late.store(now, std::memory_order_relaxed);
  g_solo_until.store(now + solo, std::memory_order_relaxed);
  g_late_jobs.fetch_add(1, std::memory_order_relaxed);
}

struct Pool {
  std::mutex job_mutex;  // owned by the caller whose job is in flight (taken with try_lock)
  std::atomic<uint64_t> word{0};
  std::atomic<int64_t> done{0};
  ChunkFn fn = nullptr;
  void* ctx = nullptr;
  std::atomic<unsigned int> mxcsr{0};  // the caller's FP mode: every chunk runs under it
  std::atomic<int> active{0};          // workers with index < active take part in the current job
  std::mutex error_mutex;
  std::exception_ptr error;

  std::mutex sleep_mutex;
  std::condition_variable wake;
  std::atomic<int> sleepers{0};

  std::mutex spawn_mutex;
  std::atomic<int> spawned{0};

  // Claims and runs chunks of the job generation `gen` until none is left.
  void work(uint64_t gen) {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      if (gen_of(w) != gen || next_of(w) >= total_of(w)) return;
      if (!word.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        continue;
      const int64_t chunk = static_cast<int64_t>(next_of(w));
      try {
        fn(ctx, chunk);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_acq_rel);
      w = word.load(std::memory_order_acquire);
    }
  }

  void worker_main(int index) {
    t_in_task = true;  // a worker never opens a nested job
    uint64_t seen = gen_of(word.load(std::memory_order_acquire));
    for (;;) {
      // Spin for the next job (a training step or a stream of requests opens one after
      // another) up to spin_us, then sleep. A short spin (50 us) made the worker sleep and be
      // woken again between requests, and wake-affine placement then put it on the caller's
      // core: batch-1 predict at 2 threads flipped between 37 and 63 us from one block of
      // calls to the next; polling with sched_yield after 50 us gave 44-50 us; 1 ms of
      // spinning gives 35 us. On a busy box the back-off (kLateNs) stops waking workers.
      int64_t last = now_ns();
      const int64_t deadline = last + static_cast<int64_t>(spin_us()) * 1000;
      uint64_t w = word.load(std::memory_order_acquire);
      int polls = 0;
      while (gen_of(w) == seen) {
        cpu_relax();
        if (++polls % 64 == 0) {
          const int64_t t = now_ns();
          if (t - last > kPreemptedNs) {  // descheduled while spinning: the box is busy
            back_off(t);
            break;
          }
          if (t > deadline) break;
          last = t;
        }
        w = word.load(std::memory_order_acquire);
      }
      if (gen_of(w) == seen) {
        // Dekker-style handshake with post(): the sleeper count is raised before the job word
        // is read again under the lock, and post() stores the word before reading the count.
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        {
          std::unique_lock<std::mutex> lock(sleep_mutex);
          wake.wait(lock, [&] { return gen_of(word.load(std::memory_order_seq_cst)) != seen; });
        }
        sleepers.fetch_sub(1, std::memory_order_seq_cst);
        w = word.load(std::memory_order_acquire);
      }
      seen = gen_of(w);
      if (index >= active.load(std::memory_order_acquire)) continue;
#ifdef FASTNET_HAVE_MXCSR
      _mm_setcsr(mxcsr.load(std::memory_order_relaxed));
#endif
      work(seen);
    }
  }

  void ensure_workers(int n) {
    if (spawned.load(std::memory_order_acquire) >= n) return;
    std::lock_guard<std::mutex> lock(spawn_mutex);
    for (int i = spawned.load(); i < n; ++i) {
      std::thread(&Pool::worker_main, this, i).detach();
      spawned.store(i + 1, std::memory_order_release);
    }
  }
};

std::atomic<int> g_threads{1};
std::atomic<int> g_spin_us{1000};
// Never deleted: a forked child replaces it and leaks the parent's (its workers, mutexes
// and condition variable belong to threads that do not exist in the child).
std::atomic<Pool*> g_pool{nullptr};

Pool* pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
  Pool* fresh = new Pool();
  if (g_pool.compare_exchange_strong(p, fresh)) return fresh;
  delete fresh;
  return p;
}

void after_fork_in_child() {
  g_pool.store(new Pool(), std::memory_order_release);
  t_in_task = false;
}

struct Init {
  Init() {
    if (const char* s = std::getenv("FASTNET_SPIN_US")) {
      char* end = nullptr;
      long v = std::strtol(s, &end, 10);
      if (end != s && v >= 0 && v <= 1000000) g_spin_us.store(static_cast<int>(v));
    }
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
  }
} g_init;

void run_inline(int64_t chunks, ChunkFn fn, void* ctx) {
  const bool outer = !t_in_task;
  t_in_task = true;
  std::exception_ptr error;
  for (int64_t c = 0; c < chunks; ++c) {
    try {
      fn(ctx, c);
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (outer) t_in_task = false;
  if (error) std::rethrow_exception(error);
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads) throw std::invalid_argument("thread count out of range");
  g_threads.store(n, std::memory_order_release);
}
int num_threads() { return g_threads.load(std::memory_order_acquire); }
void set_spin_us(int us) { g_spin_us.store(std::max(0, us), std::memory_order_release); }
int spin_us() { return g_spin_us.load(std::memory_order_relaxed); }
int pool_workers() { return pool()->spawned.load(); }
int64_t pool_late_jobs() { return g_late_jobs.load(std::memory_order_relaxed); }
bool in_pool_task() { return t_in_task; }

void run_chunks(int64_t chunks, ChunkFn fn, void* ctx) {
  if (chunks <= 0) return;
  const int threads = num_threads();
  if (chunks == 1 || threads <= 1 || t_in_task || chunks > kMaxChunks) {
    run_inline(chunks, fn, ctx);
    return;
  }
  const int64_t start = now_ns();
  if (start < g_solo_until.load(std::memory_order_relaxed)) {  // backing off: see kLateNs
    run_inline(chunks, fn, ctx);
    return;
  }
  Pool* p = pool();
  std::unique_lock<std::mutex> job(p->job_mutex, std::try_to_lock);
  if (!job.owns_lock()) {  // another caller's job is in flight: do ours ourselves
    run_inline(chunks, fn, ctx);
    return;
  }
  p->ensure_workers(threads - 1);
  p->fn = fn;
  p->ctx = ctx;
#ifdef FASTNET_HAVE_MXCSR
  p->mxcsr.store(_mm_getcsr(), std::memory_order_relaxed);
#endif
  p->error = nullptr;
  p->done.store(0, std::memory_order_relaxed);
  p->active.store(threads - 1, std::memory_order_relaxed);
  const uint64_t gen = (gen_of(p->word.load(std::memory_order_relaxed)) + 1) & 0xFFFFFF;
  p->word.store(pack(gen, static_cast<uint64_t>(chunks), 0), std::memory_order_seq_cst);
  if (p->sleepers.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(p->sleep_mutex);
    p->wake.notify_all();
  }
  t_in_task = true;
  p->work(gen);
  t_in_task = false;
  // Wait for chunks that workers claimed: spin, then yield the core (a worker descheduled
  // mid-chunk may be waiting for exactly this core).
  const int64_t own_done = now_ns();
  int polls = 0;
  while (p->done.load(std::memory_order_acquire) < chunks) {
    if (++polls < 2000)
      cpu_relax();
    else
      sched_yield();
  }
  if (polls >= 2000) {
    const int64_t end = now_ns(), waited = end - own_done;
    if (waited > kLateNs && waited > 2 * (own_done - start)) back_off(end);
  }
  std::exception_ptr error = p->error;
  p->error = nullptr;
  job.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace fastnet

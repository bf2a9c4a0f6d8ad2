#include "threads.h"

#include <cblas.h>

#include "common.h"

namespace fastnet {

namespace {

bool g_blas_openmp = false;
int g_blas_threads = 1;

// OpenBLAS hands over `numjobs` jobs that synchronise with each other (level-3 threads wait
// for their peers' packed panels), so every job needs its own thread: one job per team member.
void run_blas_jobs(int /*sync*/, openblas_dojob_callback dojob, int numjobs, size_t elsize,
                   void* jobdata, int dojob_data) {
  char* base = static_cast<char*>(jobdata);
  if (numjobs <= 1) {
    if (numjobs == 1) dojob(0, base, dojob_data);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(numjobs)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    for (int i = t; i < numjobs; i += nt) dojob(i, base + static_cast<size_t>(i) * elsize, dojob_data);
  }
#else
  for (int i = 0; i < numjobs; ++i) dojob(i, base + static_cast<size_t>(i) * elsize, dojob_data);
#endif
}

}  // namespace

void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  scipy_openblas_set_num_threads(n);
  g_blas_threads = n;
}

int blas_threads() { return g_blas_threads; }

bool set_blas_uses_openmp(bool on) {
  bool previous = g_blas_openmp;
#ifdef _OPENMP
  scipy_openblas_set_threads_callback_function(on ? run_blas_jobs : nullptr);
  g_blas_openmp = on;
#else
  (void)on;
#endif
  return previous;
}

bool blas_uses_openmp() { return g_blas_openmp; }

}  // namespace fastnet

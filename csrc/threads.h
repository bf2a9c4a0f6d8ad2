// One thread pool for everything: fastnet's OpenMP team also runs OpenBLAS's GEMM jobs,
// through OpenBLAS's caller-managed threading callback (OpenBLAS >= 0.3.27), so two pools
// never spin against each other on the same cores.
#pragma once

namespace fastnet {

// Sets our OpenMP threads and OpenBLAS's together.
void set_num_threads(int n);
// OpenBLAS's thread count as last set through set_num_threads.
int blas_threads();
// Routes OpenBLAS's parallel jobs through our OpenMP team (true) or OpenBLAS's own pthreads
// pool (false). Returns the previous setting.
bool set_blas_uses_openmp(bool on);
bool blas_uses_openmp();

}  // namespace fastnet

#include "core/cpu.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace fastnet {

namespace {

Isa detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // AVX-512 F, BW and VL: the fp32 kernels use masked loads and stores of 16 floats.
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  if (!avx512) return Isa::Generic;
  if (__builtin_cpu_supports("avx512bf16")) return Isa::Avx512Bf16;
  return Isa::Avx512;
#else
  return Isa::Generic;
#endif
}

Isa initial_limit() {
  const char* v = std::getenv("FASTNET_ISA");
  if (!v || !*v) return Isa::Avx512Bf16;
  try {
    return isa_from_name(v);
  } catch (const std::invalid_argument&) {
    return Isa::Avx512Bf16;  // an unknown name leaves the CPU's own level
  }
}

std::atomic<int>& limit() {
  static std::atomic<int> l{static_cast<int>(initial_limit())};
  return l;
}

}  // namespace

Isa cpu_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  const int cap = limit().load(std::memory_order_relaxed);
  const int have = static_cast<int>(cpu_isa());
  return static_cast<Isa>(cap < have ? cap : have);
}

void set_isa_limit(Isa l) { limit().store(static_cast<int>(l), std::memory_order_relaxed); }

Isa isa_from_name(const std::string& name) {
  if (name == "generic") return Isa::Generic;
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx512_bf16") return Isa::Avx512Bf16;
  throw std::invalid_argument("unknown instruction set '" + name +
                              "' (known: generic, avx512, avx512_bf16)");
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic:
      return "generic";
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx512Bf16:
      return "avx512_bf16";
  }
  return "generic";
}

}  // namespace fastnet

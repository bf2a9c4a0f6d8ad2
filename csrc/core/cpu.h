// Which instruction sets the kernels may use: what the CPU reports, capped by a limit that the
// FASTNET_ISA environment variable sets at load ("generic", "avx512", "avx512_bf16") and that
// tests lower to run the fallback paths on a CPU that has the instructions.
#pragma once
#include <string>

namespace fastnet {

enum class Isa : int { Generic = 0, Avx512 = 1, Avx512Bf16 = 2 };

// The best level this CPU supports (cpuid through __builtin_cpu_supports).
Isa cpu_isa();
// min(cpu_isa(), the limit): what the kernels use now.
Isa active_isa();
// Caps the level the kernels use (process-wide; meant for tests and for ruling a kernel out).
void set_isa_limit(Isa limit);
Isa isa_from_name(const std::string& name);  // throws std::invalid_argument
const char* isa_name(Isa isa);

inline bool use_avx512() { return active_isa() >= Isa::Avx512; }
inline bool use_avx512_bf16() { return active_isa() >= Isa::Avx512Bf16; }

}  // namespace fastnet

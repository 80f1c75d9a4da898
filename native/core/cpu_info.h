// CPU features and cache sizes, and the ISA our own kernels run with.
//
// The addon is compiled for an AVX2+FMA baseline; kernels that profit from
// wider vectors also have an AVX-512 version (compiled under a target pragma
// in its own file) chosen at run time when the CPU has AVX-512F/BW/DQ/VL. A
// scalar instantiation of the same templates exists for testing the kernel
// logic independently of the vector width. SENET_ISA=scalar|avx2|avx512
// (or setIsa() from JS) overrides the choice; asking for an ISA the CPU
// lacks is an error, never a SIGILL.
#pragma once

#include <cstddef>
#include <string>

namespace senet::cpu {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);
Isa best_isa();
Isa current_isa();
void set_isa(Isa isa);  // throws SENET_ARG if unsupported
Isa parse_isa(const std::string& s, const char* op);

size_t l2_cache_bytes();  // per core
size_t l3_cache_bytes();  // shared (as the OS reports it; bounded in use)

}  // namespace senet::cpu

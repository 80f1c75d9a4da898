// Scalar instantiation of the fused SE kernel (W = 1): the portable path and
// a check of the kernel logic independent of the vector width (the test
// suite runs it with SENET_ISA=scalar / setIsa('scalar')).
#include <omp.h>

#include <cmath>
#include <cstdint>

#include "cpu/se.h"

namespace senet::cpu::se::scalar {
#define SENET_SE_SCALAR
#include "cpu/se_kernel.inl"
#undef SENET_SE_SCALAR
}  // namespace senet::cpu::se::scalar

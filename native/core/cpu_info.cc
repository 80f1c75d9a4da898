#include "core/cpu_info.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/errors.h"

namespace senet::cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "scalar";
}

bool isa_supported(Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
}

Isa best_isa() {
  if (isa_supported(Isa::Avx512)) return Isa::Avx512;
  if (isa_supported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

Isa parse_isa(const std::string& s, const char* op) {
  Isa isa;
  if (s == "scalar") isa = Isa::Scalar;
  else if (s == "avx2") isa = Isa::Avx2;
  else if (s == "avx512") isa = Isa::Avx512;
  else fail(Code::Arg, op, "isa", "one of scalar|avx2|avx512", "'" + s + "'");
  if (!isa_supported(isa)) fail(Code::Arg, op, "isa", "an ISA this CPU supports (best: " + std::string(isa_name(best_isa())) + ")", "'" + s + "'");
  return isa;
}

namespace {
std::atomic<int> g_isa{-1};
}

Isa current_isa() {
  int v = g_isa.load();
  if (v < 0) {
    Isa isa = best_isa();
    const char* env = std::getenv("SENET_ISA");
    if (env && *env) {
      try {
        isa = parse_isa(env, "SENET_ISA");
      } catch (const Error& e) {
        std::fprintf(stderr, "senet: ignoring %s\n", e.what());
      }
    }
    v = int(isa);
    g_isa.store(v);
  }
  return Isa(v);
}

void set_isa(Isa isa) {
  if (!isa_supported(isa)) fail(Code::Arg, "setIsa", "isa", "an ISA this CPU supports", isa_name(isa));
  g_isa.store(int(isa));
}

static size_t read_cache(int index, size_t fallback) {
  char path[128];
  std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
  FILE* f = std::fopen(path, "r");
  if (!f) return fallback;
  char buf[64] = {0};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  if (n == 0) return fallback;
  char* end = nullptr;
  unsigned long long v = std::strtoull(buf, &end, 10);
  if (end && (*end == 'K' || *end == 'k')) v <<= 10;
  else if (end && (*end == 'M' || *end == 'm')) v <<= 20;
  return v ? size_t(v) : fallback;
}

size_t l2_cache_bytes() {
  static size_t v = read_cache(2, 512 << 10);
  return v;
}

size_t l3_cache_bytes() {
  static size_t v = read_cache(3, 8 << 20);
  return v;
}

}  // namespace senet::cpu

// Host checks of the CUDA kernels' index arithmetic (index.h, size_class.h),
// compiled into every build -- the CPU-only one too -- so `npm test` on a
// machine without a GPU still checks how the kernels cut their work, which
// mask bits they write, which pooling windows they visit, and that their
// Philox streams are the CPU's (test/cuda_host.test.ts).
//
// _cudaHostChecks() -> [{ name, ok, detail }]: exhaustive checks over a grid
// of small shapes (every element covered exactly once, and so on).
// _cudaHostPhilox(seed, n, kind) -> Float32Array: the CUDA fill's values,
// computed on the host with the kernel's code, for comparison with the CPU
// randn/randu.
// _cudaHostSeMask(v, N, HW, C) -> Uint8Array: the mask the SE kernel writes
// for pre-activations v, for comparison with the CPU kernel's mask.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "core/args.h"
#include "cpu/se.h"
#include "cuda/index.h"
#include "cuda/size_class.h"
#include "ops/registry.h"

namespace senet {
namespace {

namespace ix = cuda::ix;

struct Check {
  explicit Check(std::string n) : name(std::move(n)) {}
  std::string name;
  bool ok = true;
  std::string detail;
  void failf(const std::string& d) {
    if (ok) detail = d;
    ok = false;
  }
};

Check check_size_classes() {
  Check c{"allocator size classes: >= request, <= 25% (or 511 bytes) larger, 512-aligned, monotone, stable"};
  size_t prev = 0;
  std::vector<size_t> sizes;
  for (size_t b = 0; b < 300000; b += 97) sizes.push_back(b);
  for (int k = 10; k < 45; ++k)
    for (long d : {-1L, 0L, 1L, 3L, 1000L})
      for (double f : {1.0, 1.1, 1.25, 1.3, 1.5, 1.7, 1.75, 1.99}) sizes.push_back(size_t(double(size_t(1) << k) * f) + size_t(d));
  std::sort(sizes.begin(), sizes.end());
  for (size_t b : sizes) {
    const size_t k = cuda::size_class(b);
    std::ostringstream at;
    at << "size " << b << " -> class " << k;
    if (k < b || k % cuda::kMinBlock != 0) c.failf(at.str() + ": below the request or misaligned");
    if (b > cuda::kSmallClassLimit ? double(k) > 1.25 * double(b) : (b > 0 && k - b >= cuda::kMinBlock))
      c.failf(at.str() + ": too much slack");
    if (k < prev) c.failf(at.str() + ": not monotone");
    if (cuda::size_class(k) != k) c.failf(at.str() + ": a class is not its own class (release would pick another bin)");
    prev = k;
  }
  // four classes per octave above 64 KiB
  std::set<size_t> octave;
  for (size_t b = (size_t(1) << 20) + 1; b <= (size_t(1) << 21); b += 4096) octave.insert(cuda::size_class(b));
  if (octave.size() != 4) c.failf("expected 4 classes in (1 MiB, 2 MiB], got " + std::to_string(octave.size()));
  return c;
}

Check check_column_reduction() {
  Check c{"column reductions: every (group, row, channel) summed exactly once; chunks of >= 32 rows"};
  for (int64_t G : {1, 2, 3, 7})
    for (int64_t rows : {1, 5, 31, 32, 33, 100, 257, 3136})
      for (int64_t C : {1, 3, 4, 37, 128, 129, 256})
        for (int sm : {1, 8, 132}) {
          const ix::ColumnPlan p = ix::column_plan(G, rows, C, sm);
          std::ostringstream at;
          at << "G " << G << " rows " << rows << " C " << C << " sms " << sm << " (Q " << p.Q << ")";
          if (p.Q < 1 || (p.Q > 1 && rows / p.Q < 32)) c.failf(at.str() + ": bad chunk count");
          std::vector<int> hits(size_t(G * rows * C), 0);
          for (int64_t b = 0; b < G * p.blocks(); ++b) {
            const ix::ColumnBlock cb = ix::column_block(b, p);
            if (cb.g < 0 || cb.g >= G || cb.q >= p.Q || cb.tile >= p.tiles) c.failf(at.str() + ": block out of range");
            const int64_t r0 = ix::chunk_begin(cb.q, p.Q, rows), r1 = ix::chunk_begin(cb.q + 1, p.Q, rows);
            for (int t = 0; t < ix::kReduceThreads; ++t) {
              const int lane = t & 31, ry = t >> 5;
              const int64_t c0 = cb.tile * ix::kTileC + lane * 4;
              if (c0 >= C) continue;
              for (int64_t r = r0 + ry; r < r1; r += ix::kRowGroups)
                for (int k = 0; k < 4; ++k)
                  if (c0 + k < C) ++hits[size_t((cb.g * rows + r) * C + c0 + k)];
            }
          }
          for (size_t i = 0; i < hits.size(); ++i)
            if (hits[i] != 1) {
              c.failf(at.str() + ": element " + std::to_string(i) + " summed " + std::to_string(hits[i]) + " times");
              break;
            }
        }
  return c;
}

Check check_byte_groups() {
  Check c{"SE elementwise kernels: every element in exactly one 8-channel group; its mask byte and bit are the CPU's"};
  for (int64_t N : {1, 3})
    for (int64_t HW : {1, 7, 49})
      for (int64_t C : {1, 5, 8, 24, 37, 64, 130}) {
        const int64_t G = ix::mask_row_bytes(C);
        if (G != cpu::se::mask_row_bytes(C)) c.failf("mask_row_bytes differs from the CPU's for C " + std::to_string(C));
        std::vector<int> hits(size_t(N * HW * C), 0);
        for (int64_t i = 0; i < N * HW * G; ++i) {
          const ix::ByteGroup b = ix::byte_group(i, HW, C);
          if (b.row != b.n * HW + b.p || b.c1 - b.c0 > 8 || b.c0 >= C) c.failf("bad group " + std::to_string(i));
          for (int64_t ch = b.c0; ch < b.c1; ++ch) {
            ++hits[size_t(b.row * C + ch)];
            // the CPU: bit (c & 7) of byte (c >> 3) of row `row` (se_kernel.inl, S1::store_bits)
            if (ix::mask_byte(b.row, ch, C) != b.row * G + (ch >> 3) || ix::mask_bit(ch) != int(ch & 7) ||
                ix::mask_byte(b.row, ch, C) != i)
              c.failf("mask position of row " + std::to_string(b.row) + " channel " + std::to_string(ch));
          }
        }
        for (size_t e = 0; e < hits.size(); ++e)
          if (hits[e] != 1) {
            c.failf("N " + std::to_string(N) + " HW " + std::to_string(HW) + " C " + std::to_string(C) + ": element " +
                    std::to_string(e) + " in " + std::to_string(hits[e]) + " groups");
            break;
          }
      }
  // The backward's ds load reads 4 channels c0..c0+3 (c0 % 4 == 0) from one byte.
  for (int64_t c0 = 0; c0 < 64; c0 += 4)
    if ((c0 >> 3) != ((c0 + 3) >> 3)) c.failf("4 channels from " + std::to_string(c0) + " span two mask bytes");
  return c;
}

Check check_excite_split() {
  Check c{"SE excitation backward: every (hidden unit, channel) in exactly one thread's slice"};
  for (int64_t D : {1, 3, 16, 100, 128, 255, 256, 300, 1024})
    for (int64_t C : {1, 5, 64, 2048})
      for (int64_t T : {256}) {
        const int64_t parts = ix::dh_parts(D, T), per = T / parts;
        std::vector<int> hits(size_t(D * C), 0);
        for (int64_t j0 = 0; j0 < D; j0 += per)
          for (int64_t t = 0; t < T; ++t) {
            const int64_t jj = t % per, part = t / per, j = j0 + jj;
            if (part >= parts || j >= D) continue;
            for (int64_t ch = ix::slice_begin(part, parts, C); ch < ix::slice_begin(part + 1, parts, C); ++ch)
              ++hits[size_t(j * C + ch)];
          }
        if (parts * per > T) c.failf("D " + std::to_string(D) + ": more slices than threads");
        for (size_t e = 0; e < hits.size(); ++e)
          if (hits[e] != 1) {
            c.failf("D " + std::to_string(D) + " C " + std::to_string(C) + ": pair " + std::to_string(e) + " summed " +
                    std::to_string(hits[e]) + " times");
            break;
          }
      }
  return c;
}

Check check_pool_windows() {
  Check c{"pooling: windows clipped to the input, include-pad divisor = window, coverings = brute force"};
  for (int64_t in : {1, 2, 5, 7, 8, 13})
    for (int64_t k : {1, 2, 3, 5})
      for (int64_t s : {1, 2, 3})
        for (int64_t plo : {0, 1, 2})
          for (int64_t phi : {0, 1, 2}) {
            if (plo >= k || phi >= k) continue;
            const int64_t padded = in + plo + phi;
            if (padded < k) continue;
            const int64_t out = (padded - k) / s + 1;
            std::ostringstream at;
            at << "in " << in << " k " << k << " s " << s << " pad " << plo << "/" << phi;
            std::vector<std::vector<int64_t>> covers(static_cast<size_t>(in));
            for (int64_t o = 0; o < out; ++o) {
              const ix::Window w = ix::pool_window(o, k, s, plo, in, phi);
              if (w.begin < 0 || w.end > in || w.begin >= w.end) c.failf(at.str() + ": empty or unclipped window");
              if (w.padded != k) c.failf(at.str() + ": include-pad divisor " + std::to_string(w.padded) + " != k");
              for (int64_t i = 0; i < in; ++i)
                if (o * s - plo <= i && i < o * s - plo + k) covers[size_t(i)].push_back(o);
              for (int64_t i = w.begin; i < w.end; ++i)
                if (!(o * s - plo <= i && i < o * s - plo + k)) c.failf(at.str() + ": window holds a foreign input");
            }
            for (int64_t i = 0; i < in; ++i) {
              const ix::Covering cv = ix::pool_covering(i, k, s, plo, out);
              std::vector<int64_t> got;
              for (int64_t o = cv.first; o <= cv.last; ++o) got.push_back(o);
              if (got != covers[size_t(i)]) c.failf(at.str() + ": covering of input " + std::to_string(i));
            }
          }
  return c;
}

Check check_nhwc_coords() {
  Check c{"NHWC coordinates: every flat index of small [N,H,W,C] maps back to itself, in order"};
  for (int64_t N : {1, 2, 3})
    for (int64_t H : {1, 4, 7})
      for (int64_t W : {1, 3, 5})
        for (int64_t C : {1, 2, 9}) {
          int64_t i = 0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t w = 0; w < W; ++w)
                for (int64_t ch = 0; ch < C; ++ch, ++i) {
                  const ix::Nhwc p = ix::nhwc_coords(i, H, W, C);
                  if (p.n != n || p.h != h || p.w != w || p.c != ch)
                    c.failf("index " + std::to_string(i) + " of [" + std::to_string(N) + "," + std::to_string(H) + "," +
                            std::to_string(W) + "," + std::to_string(C) + "]");
                }
        }
  return c;
}

Check check_bf16() {
  Check c{"bfloat16 rounding: nearest even, NaN stays NaN, overflow to infinity"};
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  auto back = [](uint16_t h) {
    const uint32_t u = ix::bf16_to_float_bits(h);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  struct Case {
    uint32_t in;
    uint16_t out;
  };
  for (Case k : {Case{0x3f800000u, 0x3f80}, Case{0x3f808000u, 0x3f80}, Case{0x3f818000u, 0x3f82},
                 Case{0x3f808001u, 0x3f81}, Case{0x7f7fffffu, 0x7f80}, Case{0xff800000u, 0xff80},
                 Case{0x80000000u, 0x8000}, Case{0x00000001u, 0x0000}})
    if (ix::bf16_from_float_bits(k.in) != k.out) c.failf("bits " + std::to_string(k.in));
  if (!std::isnan(back(ix::bf16_from_float_bits(0x7fc00000u))) || !std::isnan(back(ix::bf16_from_float_bits(0x7f800001u))))
    c.failf("NaN");
  // against a rounding of the exact value: |x - bf16(x)| <= half a bf16 ulp
  for (float x = -3.0f; x < 3.0f; x += 0.0009765f) {
    const float r = back(ix::bf16_from_float_bits(bits(x)));
    const float ulp = std::ldexp(1.0f, std::ilogb(x == 0 ? 1.0f : x) - 7);
    if (std::fabs(double(r) - double(x)) > 0.5 * ulp) c.failf("value " + std::to_string(x));
  }
  return c;
}

Check check_sgd_chunks() {
  Check c{"fused SGD: the chunk table covers every element of every tensor once"};
  for (auto sizes : std::vector<std::vector<int64_t>>{{1}, {ix::kSgdChunk}, {ix::kSgdChunk + 1, 3, 0, 5 * ix::kSgdChunk}}) {
    for (size_t t = 0; t < sizes.size(); ++t) {
      int64_t covered = 0, expect_begin = 0;
      for (int64_t b = 0; b < sizes[t]; b += ix::kSgdChunk) {
        const int64_t e = std::min(sizes[t], b + ix::kSgdChunk);
        if (b != expect_begin) c.failf("gap");
        covered += e - b;
        expect_begin = e;
      }
      if (covered != sizes[t]) c.failf("tensor of " + std::to_string(sizes[t]));
    }
  }
  return c;
}

Check check_label_packing() {
  Check c{"label checks: (index << 32 | label) decodes, and atomicMin keeps the smallest index"};
  for (int64_t idx : {0LL, 1LL, 2LL, 4095LL, 1LL << 30})
    for (int32_t label : {-1, 0, 10, -2147483647 - 1, 2147483647}) {
      const unsigned long long v = (static_cast<unsigned long long>(idx) << 32) | static_cast<uint32_t>(label);
      if (int64_t(v >> 32) != idx || int32_t(uint32_t(v & 0xffffffffu)) != label) c.failf("decode");
      const unsigned long long w = (static_cast<unsigned long long>(idx + 1) << 32) | 0u;
      if (!(v < w)) c.failf("order by index");
    }
  return c;
}

Check check_philox_counters() {
  Check c{"Philox fills: element e is word e % 4 of block e / 4 (counter, key) as the CPU"};
  // randn_block(b) must be a pure function of (seed, b): blocks across 2^32 use the high counter word.
  float a[4], b[4];
  ix::randn_block(7, (int64_t(1) << 32) + 5, 0, 1, a);
  ix::randn_block(7, 5, 0, 1, b);
  if (std::memcmp(a, b, sizeof a) == 0) c.failf("block 2^32 + 5 equals block 5");
  ix::randu_block(7, 5, 0, 1, a);
  for (float v : a)
    if (!(v >= 0.0f && v < 1.0f)) c.failf("uniform outside [0, 1)");
  return c;
}

}  // namespace

SENET_BINDING(_cudaHostChecks) {
  Napi::Env env = info.Env();
  std::vector<Check> cs{check_size_classes(), check_column_reduction(), check_byte_groups(), check_excite_split(),
                        check_pool_windows(), check_nhwc_coords(), check_bf16(),              check_sgd_chunks(),  check_label_packing(),
                        check_philox_counters()};
  auto arr = Napi::Array::New(env, cs.size());
  for (size_t i = 0; i < cs.size(); ++i) {
    auto o = Napi::Object::New(env);
    o.Set("name", cs[i].name);
    o.Set("ok", cs[i].ok);
    o.Set("detail", cs[i].detail);
    arr.Set(uint32_t(i), o);
  }
  return arr;
}

// _cudaHostPhilox(seed, n, kind 'normal' | 'uniform', a, b)
SENET_BINDING(_cudaHostPhilox) {
  OpArgs A(info, "_cudaHostPhilox");
  const double seed = A.number(0, "seed"), nd = A.number(1, "n");
  const std::string kind = A.string(2, "kind");
  const double a = A.number(3, "a"), b = A.number(4, "b");
  if (!(nd >= 0 && nd <= 1e8)) fail(Code::Arg, A.op(), "n", "a count in [0, 1e8]", describe(info[1]));
  const int64_t n = int64_t(nd);
  auto out = Napi::Float32Array::New(info.Env(), size_t(n));
  for (int64_t k = 0; k < (n + 3) / 4; ++k) {
    float v[4];
    if (kind == "normal") ix::randn_block(uint64_t(seed), k, a, b, v);
    else ix::randu_block(uint64_t(seed), k, a, b, v);
    for (int j = 0; j < 4 && k * 4 + j < n; ++j) out[size_t(k * 4 + j)] = v[j];
  }
  return out;
}

// _cudaHostSeMask(v Float32Array, N, HW, C): the mask bytes se_scale_kernel
// writes for the pre-activations v (bit = v > 0), group by group.
SENET_BINDING(_cudaHostSeMask) {
  OpArgs A(info, "_cudaHostSeMask");
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    fail(Code::Arg, A.op(), "v", "a Float32Array", describe(info[0]));
  auto v = info[0].As<Napi::Float32Array>();
  const int64_t N = int64_t(A.number(1, "N")), HW = int64_t(A.number(2, "HW")), C = int64_t(A.number(3, "C"));
  if (N < 1 || HW < 1 || C < 1 || int64_t(v.ElementLength()) != N * HW * C)
    fail(Code::Shape, A.op(), "v", "N*HW*C values", std::to_string(v.ElementLength()));
  const int64_t groups = N * HW * ix::mask_row_bytes(C);
  auto out = Napi::Uint8Array::New(info.Env(), size_t(groups));
  for (int64_t i = 0; i < groups; ++i) {
    const ix::ByteGroup b = ix::byte_group(i, HW, C);
    uint32_t bits = 0;
    for (int64_t c = b.c0; c < b.c1; ++c) bits |= (v[size_t(b.row * C + c)] > 0.0f ? 1u : 0u) << (c - b.c0);
    out[size_t(i)] = uint8_t(bits);
  }
  return out;
}

void register_cuda_host_checks(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, _cudaHostChecks);
  SENET_EXPORT(exports, env, _cudaHostPhilox);
  SENET_EXPORT(exports, env, _cudaHostSeMask);
}

}  // namespace senet

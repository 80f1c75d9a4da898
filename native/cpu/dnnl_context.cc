#include "cpu/dnnl_context.h"

#include <cstdlib>
#include <vector>

namespace senet::cpu {

dnnl::engine& engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

memory::desc md(const memory::dims& dims, tag t, dt type) { return memory::desc(dims, type, t); }

memory::desc nhwc_md(const Shape& s) { return md({s[0], s[3], s[1], s[2]}, tag::nhwc); }

std::string dnnl_status_name(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out_of_memory";
    case dnnl_invalid_arguments: return "invalid_arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator_ends";
    case dnnl_runtime_error: return "runtime_error";
    case dnnl_not_required: return "not_required";
    default: return "status " + std::to_string(int(s));
  }
}

namespace {
struct ScratchBuf {
  void* p = nullptr;
  size_t n = 0;
  ~ScratchBuf() { std::free(p); }
};
}  // namespace

void* scratch(int slot, size_t bytes) {
  thread_local std::vector<ScratchBuf> bufs(10);
  if (slot < 0 || slot >= int(bufs.size())) throw Error(Code::Internal, "scratch: bad slot");
  ScratchBuf& b = bufs[size_t(slot)];
  if (b.n < bytes) {
    std::free(b.p);
    b.p = nullptr;
    b.n = 0;
    const size_t n = (bytes + 63) / 64 * 64;
    if (posix_memalign(&b.p, 64, n) != 0) throw Error(Code::OOM, "scratch: out of memory for " + std::to_string(bytes) + " bytes");
    b.n = n;
  }
  return b.p;
}

dnnl::primitive_attr attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

void add_scratchpad(std::unordered_map<int, memory>& args, const memory::desc& md) {
  const size_t n = md.get_size();
  if (n > 0) args.emplace(DNNL_ARG_SCRATCHPAD, mem(md, scratch(7, n)));
}

void execute(const dnnl::primitive& p, std::unordered_map<int, memory> args, const memory::desc& scratchpad) {
  add_scratchpad(args, scratchpad);
  p.execute(stream(), args);
}

namespace {
std::mutex& registry_mu() {
  static std::mutex* m = new std::mutex();
  return *m;
}
std::vector<CacheBase*>& registry() {
  static auto* r = new std::vector<CacheBase*>();
  return *r;
}
}  // namespace

CacheBase::CacheBase() {
  std::lock_guard<std::mutex> lock(registry_mu());
  registry().push_back(this);
}

void clear_primitive_caches() {
  std::lock_guard<std::mutex> lock(registry_mu());
  for (auto* c : registry()) c->clear();
}

}  // namespace senet::cpu

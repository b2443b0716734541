// The CUDA emulator's runtime: the block scheduler (fibers, barriers, warp exchange) and the subset
// of the CUDA runtime API the addon uses, over host memory. See cuda_runtime.h beside this file.
#include "cuda_runtime.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__linux__) && !defined(IFA_EMU_UCONTEXT)
#define IFA_EMU_SWITCH_ASM 1
#endif

// Under AddressSanitizer (IFA_SANITIZE=address) ASan is told about every stack switch, and a fiber
// stack is unpoisoned before reuse (a finished fiber leaves its last frames' red zones behind).
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define IFA_EMU_ASAN 1
#endif

namespace ifa_emu {

thread_local const ThreadState* currentThread = nullptr;

namespace {

constexpr size_t kStackBytes = 256 * 1024;  // per fiber; a PROT_NONE page below each catches overflow
constexpr size_t kMaxSharedBytes = 48 * 1024;

struct Fiber {
#ifdef IFA_EMU_SWITCH_ASM
  void* sp = nullptr;  // saved stack pointer while switched out
#else
  ucontext_t ctx;
#endif
  char* stack = nullptr;  // mapping start (guard page first)
  ThreadState st;
  int warp = 0, lane = 0;
  bool done = false;
};

struct Warp {
  int size = 0, live = 0, arrived = 0;
  unsigned gen = 0;
  uint64_t slot[32];
};

// The block being run on this OS thread.
struct Block {
  std::vector<Fiber> fibers;  // pool: grows to the largest block, stacks reused across launches
  std::vector<Warp> warps;
  int threads = 0, live = 0, arrived = 0;
  unsigned gen = 0;
  uint64_t events = 0;  // barrier releases and thread exits: progress, for deadlock detection
  int cur = 0;
  const void* schedStack = nullptr;  // the scheduler's stack, for ASan's switch annotations
  size_t schedStackSize = 0;
#ifdef IFA_EMU_SWITCH_ASM
  void* schedSp = nullptr;
#else
  ucontext_t sched;
#endif
  void (*body)(void*) = nullptr;
  void* ctx = nullptr;
};
thread_local Block* tb = nullptr;

void fiberEntry();

#ifdef IFA_EMU_SWITCH_ASM
// Saves the callee-saved registers and the stack pointer of the running context in *from, then
// resumes the context saved in to (x86-64 System V). swapcontext would do the same plus two signal-
// mask system calls per switch, which made barrier-heavy kernels several times slower.
extern "C" void ifaEmuSwitch(void** from, void* to);
asm(R"(
  .text
  .p2align 4
  .globl ifaEmuSwitch
  .type ifaEmuSwitch, @function
ifaEmuSwitch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ifaEmuSwitch, .-ifaEmuSwitch
)");

// ASan stack-switch annotations (no-ops without ASan).
inline void asanEnter(void** fake, const void* bottom, size_t size) {
#ifdef IFA_EMU_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
inline void asanEntered(void* fake, const void** oldBottom, size_t* oldSize) {
#ifdef IFA_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, oldBottom, oldSize);
#else
  (void)fake, (void)oldBottom, (void)oldSize;
#endif
}

[[noreturn]] void fiberTrampoline() {
  Block& b = *tb;
  asanEntered(nullptr, &b.schedStack, &b.schedStackSize);
  fiberEntry();
  void* dead = nullptr;
  asanEnter(nullptr, b.schedStack, b.schedStackSize);  // nullptr: this fiber's stack is done
  ifaEmuSwitch(&dead, b.schedSp);
  __builtin_unreachable();
}

void initFiber(Block& b, Fiber& f, size_t page) {
  (void)b;
#ifdef IFA_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(f.stack + page, kStackBytes);
#endif
  // A frame ifaEmuSwitch can "return" into: six zeroed registers, then fiberTrampoline as the
  // return address, above it a fake return address so the trampoline starts with the ABI's alignment.
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + page + kStackBytes) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;
  *--sp = reinterpret_cast<void*>(&fiberTrampoline);
  for (int i = 0; i < 6; i++) *--sp = nullptr;
  f.sp = sp;
}
void resumeFiber(Block& b, Fiber& f) {
  void* fake = nullptr;
  asanEnter(&fake, f.stack + size_t(sysconf(_SC_PAGESIZE)), kStackBytes);
  ifaEmuSwitch(&b.schedSp, f.sp);
  asanEntered(fake, nullptr, nullptr);
}
void suspendFiber(Block& b, Fiber& f) {
  void* fake = nullptr;
  asanEnter(&fake, b.schedStack, b.schedStackSize);
  ifaEmuSwitch(&f.sp, b.schedSp);
  asanEntered(fake, nullptr, nullptr);
}
#else
void initFiber(Block& b, Fiber& f, size_t page) {
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack + page;
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = &b.sched;
  makecontext(&f.ctx, fiberEntry, 0);
}
void resumeFiber(Block& b, Fiber& f) { swapcontext(&b.sched, &f.ctx); }
void suspendFiber(Block& b, Fiber& f) { swapcontext(&f.ctx, &b.sched); }
#endif

Block& block() {
  static thread_local Block* b = new Block();  // never freed: fibers may be abandoned mid-stack
  return *b;
}

void yieldToScheduler() {
  Block& b = *tb;
  suspendFiber(b, b.fibers[b.cur]);
}

void releaseIfComplete(Block& b) {
  if (b.arrived > 0 && b.arrived == b.live) {
    b.arrived = 0;
    b.gen++;
    b.events++;
  }
}
void releaseIfComplete(Block& b, Warp& w) {
  if (w.arrived > 0 && w.arrived == w.live) {
    w.arrived = 0;
    w.gen++;
    b.events++;
  }
}

void fiberEntry() {
  Block& b = *tb;
  Fiber& f = b.fibers[b.cur];
  b.body(b.ctx);
  f.done = true;
  b.live--;
  b.warps[f.warp].live--;
  b.events++;
  // Exited threads count as arrived (as on sm_70+): a barrier the others wait at may now be complete.
  releaseIfComplete(b);
  releaseIfComplete(b, b.warps[f.warp]);
  // returning resumes the scheduler (uc_link, or fiberTrampoline's switch)
}

thread_local cudaError_t lastError = cudaSuccess;

void setError(cudaError_t e, const std::string& detail) {
  if (lastError == cudaSuccess) lastError = e;
  std::fprintf(stderr, "[cuda-emulator] %s\n", detail.c_str());
}

std::string dimText(dim3 d) { return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")"; }

// IFA_CUDA_EMU_ORDER=reverse runs the threads of a block from the last to the first between
// barriers. A kernel missing a barrier reads another thread's shared-memory write too early in one of
// the two orders, so running the suite in both catches such races whichever thread is the writer.
bool reverseOrder() {
  static const bool r = [] {
    const char* s = std::getenv("IFA_CUDA_EMU_ORDER");
    return s && std::string(s) == "reverse";
  }();
  return r;
}

char* mapStack() {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "[cuda-emulator] could not map a fiber stack\n");
    std::abort();
  }
  mprotect(p, page, PROT_NONE);
  return static_cast<char*>(p);
}

}  // namespace

void syncThreads() {
  Block& b = *tb;
  const unsigned g = b.gen;
  b.arrived++;
  releaseIfComplete(b);
  while (b.gen == g) yieldToScheduler();
}

void syncWarp() {
  Block& b = *tb;
  Warp& w = b.warps[b.fibers[b.cur].warp];
  const unsigned g = w.gen;
  w.arrived++;
  releaseIfComplete(b, w);
  while (w.gen == g) yieldToScheduler();
}

int laneId() { return tb->fibers[tb->cur].lane; }

uint64_t exchange(uint64_t mine, int src) {
  Block& b = *tb;
  Fiber& f = b.fibers[b.cur];
  Warp& w = b.warps[f.warp];
  w.slot[f.lane] = mine;
  syncWarp();
  const uint64_t r = src >= 0 && src < w.size ? w.slot[src] : mine;
  syncWarp();
  return r;
}

void runGrid(const LaunchConfig& cfg, void (*body)(void*), void* ctx) {
  const dim3 g = cfg.grid, bd = cfg.block;
  const uint64_t threads = uint64_t(bd.x) * bd.y * bd.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || bd.x == 0 || bd.y == 0 || bd.z == 0 || threads > 1024 || bd.z > 64 || g.y > 65535 ||
      g.z > 65535 || g.x > 2147483647u) {
    setError(cudaErrorInvalidConfiguration, "invalid launch configuration: grid " + dimText(g) + ", block " + dimText(bd));
    return;
  }
  if (cfg.sharedBytes > kMaxSharedBytes) {
    setError(cudaErrorInvalidValue, "dynamic shared memory " + std::to_string(cfg.sharedBytes) + " bytes exceeds 48 KiB");
    return;
  }
  if (tb) {
    setError(cudaErrorLaunchFailure, "a kernel launched another kernel (dynamic parallelism is not emulated)");
    return;
  }
  Block& b = block();
  const int n = int(threads);
  while (int(b.fibers.size()) < n) {
    b.fibers.emplace_back();
    b.fibers.back().stack = mapStack();
  }
  const int nw = (n + 31) / 32;
  b.warps.assign(nw, Warp());
  for (int w = 0; w < nw; w++) b.warps[w].size = std::min(32, n - 32 * w);
  b.threads = n;
  b.body = body;
  b.ctx = ctx;
  tb = &b;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  bool failed = false;
  for (unsigned bz = 0; bz < g.z && !failed; bz++)
    for (unsigned by = 0; by < g.y && !failed; by++)
      for (unsigned bx = 0; bx < g.x && !failed; bx++) {
        b.live = n;
        b.arrived = 0;
        for (auto& w : b.warps) {
          w.live = w.size;
          w.arrived = 0;
        }
        for (int t = 0; t < n; t++) {
          Fiber& f = b.fibers[t];
          f.done = false;
          f.warp = t / 32;
          f.lane = t % 32;
          f.st.tid = uint3{unsigned(t) % bd.x, (unsigned(t) / bd.x) % bd.y, unsigned(t) / (bd.x * bd.y)};
          f.st.bid = uint3{bx, by, bz};
          f.st.bdim = bd;
          f.st.gdim = g;
          initFiber(b, f, page);
        }
        while (b.live > 0) {
          const uint64_t before = b.events;
          for (int i = 0; i < n; i++) {
            const int t = reverseOrder() ? n - 1 - i : i;
            Fiber& f = b.fibers[t];
            if (f.done) continue;
            b.cur = t;
            currentThread = &f.st;
            resumeFiber(b, f);
          }
          if (b.live > 0 && b.events == before) {
            setError(cudaErrorLaunchFailure, "deadlock in block " + dimText(dim3(bx, by, bz)) + ": " + std::to_string(b.live) +
                                                 " threads wait at a __syncthreads or warp shuffle that not every live thread reaches");
            failed = true;  // the waiting fibers are abandoned; their stacks are reused by the next launch
            break;
          }
        }
      }
  tb = nullptr;
  currentThread = nullptr;
}

}  // namespace ifa_emu

// ---------------------------------------------------------------------------------------------
// Runtime API.
using ifa_emu::lastError;

namespace {

std::mutex memMu;
std::map<uintptr_t, size_t> deviceBlocks;  // start → bytes
size_t deviceUsed = 0;

bool exactAllocs() {
  static const bool on = [] {
    const char* e = std::getenv("IFA_CUDA_EXACT_ALLOC");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

size_t deviceLimit() {
  static size_t limit = [] {
    const char* s = std::getenv("IFA_CUDA_EMU_MEMORY_MB");
    long mb = s ? std::atol(s) : 4096;
    if (mb <= 0) mb = 4096;
    return size_t(mb) << 20;
  }();
  return limit;
}

// Whether [p, p + bytes) lies inside one device allocation.
bool isDeviceRange(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(memMu);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = deviceBlocks.upper_bound(a);
  if (it == deviceBlocks.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}

cudaError_t fail(cudaError_t e, const std::string& detail) {
  std::fprintf(stderr, "[cuda-emulator] %s\n", detail.c_str());
  return e;
}

struct EventRec {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
  bool timing = true;
};

}  // namespace

struct CUstream_st {
  int id;
};
struct CUevent_st {
  EventRec rec;
};

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}
cudaError_t cudaGetLastError() {
  cudaError_t e = lastError;
  lastError = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return lastError; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "ifa-ssl CUDA emulator on the CPU");
  prop->totalGlobalMem = deviceLimit();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->warpSize = 32;
  prop->multiProcessorCount = 1;
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  *s = new CUstream_st{1};
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { return cudaStreamCreate(s); }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }  // launches and copies run at once

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  std::lock_guard<std::mutex> lock(memMu);
  if (bytes == 0) bytes = 1;
  if (deviceUsed + bytes > deviceLimit()) return cudaErrorMemoryAllocation;  // silent, like the device
  // As on the device, 256-byte aligned; with IFA_CUDA_EXACT_ALLOC (the memcheck runs) exactly the
  // size asked, so under AddressSanitizer (`npm run test:emu-asan`) a kernel's access past a
  // tensor's end lands in malloc's red zone and is reported.
  void* m = exactAllocs() ? std::malloc(bytes) : std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!m) return cudaErrorMemoryAllocation;
  // Fresh device memory holds garbage; NaN bytes make a kernel that reads what it never wrote visible.
  std::memset(m, 0xff, bytes);
  deviceBlocks.emplace(reinterpret_cast<uintptr_t>(m), bytes);
  deviceUsed += bytes;
  *p = m;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(memMu);
  auto it = deviceBlocks.find(reinterpret_cast<uintptr_t>(p));
  if (it == deviceBlocks.end()) return fail(cudaErrorInvalidDevicePointer, "cudaFree of a pointer cudaMalloc did not return");
  deviceUsed -= it->second;
  deviceBlocks.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes) {
  std::lock_guard<std::mutex> lock(memMu);
  *totalBytes = deviceLimit();
  *freeBytes = deviceLimit() - deviceUsed;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) {
  *p = std::malloc(bytes ? bytes : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool srcDev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool dstDev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if (srcDev && !isDeviceRange(src, bytes)) return fail(cudaErrorInvalidValue, "cudaMemcpy: source range is not inside one device allocation");
  if (dstDev && !isDeviceRange(dst, bytes)) return fail(cudaErrorInvalidValue, "cudaMemcpy: destination range is not inside one device allocation");
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) { return cudaMemcpy(dst, src, bytes, kind); }
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
  if (bytes == 0) return cudaSuccess;
  if (!isDeviceRange(dst, bytes)) return fail(cudaErrorInvalidValue, "cudaMemset: range is not inside one device allocation");
  std::memset(dst, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  *e = new CUevent_st();
  (*e)->rec.timing = !(flags & cudaEventDisableTiming);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return cudaErrorInvalidResourceHandle;
  e->rec.t = std::chrono::steady_clock::now();
  e->rec.recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e ? cudaSuccess : cudaErrorInvalidResourceHandle; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!a || !b || !a->rec.recorded || !b->rec.recorded || !a->rec.timing || !b->rec.timing) return cudaErrorInvalidResourceHandle;
  *ms = std::chrono::duration<float, std::milli>(b->rec.t - a->rec.t).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

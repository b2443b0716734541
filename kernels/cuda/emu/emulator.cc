// The CUDA emulator's runtime: the block scheduler (fibers, barriers, warp exchange), the sm_80 warp
// primitives kernels/cuda/mma.cuh uses (mma.sync, ldmatrix, cp.async) and the subset of the CUDA
// runtime API the addon uses, over host memory. See cuda_runtime.h beside this file.
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

#include "../../../native/dtype.h"  // relative to this file: emulator.cc is compiled from the source tree

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

namespace {
bool isDeviceRange(const void* p, size_t bytes);  // the runtime API's, below
}

namespace ifa_emu {

thread_local const ThreadState* currentThread = nullptr;

namespace {

constexpr size_t kStackBytes = 256 * 1024;  // per fiber; a PROT_NONE page below each catches overflow
// Dynamic shared memory per block: the opt-in maximum of an H100/H200 (sm_90), 227 KiB; without the
// opt-in attribute a GPU allows 48 KiB, which the emulator does not check.
constexpr size_t kMaxSharedBytes = 227 * 1024;

// One cp.async in flight: the source bytes are read at issue (zeros when !valid) and written to the
// destination when a cp.async.wait_group completes its group.
struct AsyncCopy {
  unsigned char* dst;
  unsigned group;  // index of the commit group it belongs (or will belong) to
  int bytes;
  unsigned char data[16];
};

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
  // cp.async state, per thread as on the GPU (reset at block start): copies in issue order and the
  // number of groups committed so far.
  std::vector<AsyncCopy> copies;
  unsigned committed = 0;
};

// What a lane brought to a warp-collective mma/ldmatrix: which instruction, and the warp barrier
// generation it arrived at, so a lane that is elsewhere (exited, at a shuffle, at another instruction)
// shows up as a stale or different tag.
struct CollectiveTag {
  unsigned gen = ~0u;
  int op = 0;  // 1 + MmaKind, or kLdmatrix
  int count = 0;
  bool trans = false;
  bool operator==(const CollectiveTag& o) const { return gen == o.gen && op == o.op && count == o.count && trans == o.trans; }
};
constexpr int kLdmatrix = 16;

struct Warp {
  int size = 0, live = 0, arrived = 0;
  unsigned gen = 0;
  uint64_t slot[32];
  // Scratch of the warp-collective primitives: each lane deposits its operands, then (after a warp
  // barrier) the first lane to run computes every lane's result, which each lane picks up before a
  // second barrier frees the scratch.
  CollectiveTag tag[32];
  uint32_t a[32][4], b[32][2];
  float c[32][4];
  const unsigned char* row[32];
  uint32_t out[32][4];
  unsigned doneGen = ~0u;  // the generation whose results are in out
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
  unsigned char* dynShared = nullptr;  // this launch's dynamic shared memory (refilled per block)
  size_t dynBytes = 0;
  dim3 bid;              // the block being run, for messages
  bool faulted = false;  // a thread reported misuse (fault()); the launch fails
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

std::string dimText(dim3 d);
void setError(cudaError_t e, const std::string& detail);

// Misuse the hardware leaves undefined (a collective with missing lanes, a misaligned address): the
// launch fails with cudaErrorLaunchFailure, as a deadlock does, and this thread never resumes.
[[noreturn]] void fault(const std::string& what) {
  Block& b = *tb;
  const Fiber& f = b.fibers[b.cur];
  setError(cudaErrorLaunchFailure, what + " (block " + dimText(b.bid) + ", thread " + std::to_string(f.warp * 32 + f.lane) + ")");
  b.faulted = true;
  for (;;) yieldToScheduler();
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
    setError(cudaErrorInvalidValue, "dynamic shared memory " + std::to_string(cfg.sharedBytes) + " bytes exceeds 227 KiB");
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
  b.faulted = false;
  // 128-byte aligned as the hardware's; a size rounded up to the alignment, as aligned_alloc requires.
  b.dynBytes = cfg.sharedBytes;
  b.dynShared = static_cast<unsigned char*>(std::aligned_alloc(128, std::max<size_t>(128, (cfg.sharedBytes + 127) / 128 * 128)));
  tb = &b;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  bool failed = false;
  for (unsigned bz = 0; bz < g.z && !failed; bz++)
    for (unsigned by = 0; by < g.y && !failed; by++)
      for (unsigned bx = 0; bx < g.x && !failed; bx++) {
        b.live = n;
        b.arrived = 0;
        b.bid = dim3(bx, by, bz);
        for (auto& w : b.warps) {
          w.live = w.size;
          w.arrived = 0;
        }
        // Shared memory starts as garbage on a GPU; NaN bytes make a read of what was never written visible.
        std::memset(b.dynShared, 0xff, b.dynBytes);
        for (int t = 0; t < n; t++) {
          Fiber& f = b.fibers[t];
          f.done = false;
          f.copies.clear();  // a thread that exited with copies in flight: they die with its block
          f.committed = 0;
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
            if (b.faulted) break;
          }
          if (b.faulted) {
            failed = true;  // reported by fault(); the fibers are abandoned as after a deadlock
            break;
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
  std::free(b.dynShared);
  b.dynShared = nullptr;
  b.dynBytes = 0;
}

// ---------------------------------------------------------------------------------------------
// sm_80 warp primitives (kernels/cuda/mma.cuh).

unsigned char* dynamicShared() { return tb ? tb->dynShared : nullptr; }

uint32_t roundTf32Bits(uint32_t bits) { return ifa::floatBits(ifa::roundToTf32(ifa::bitsFloat(bits))); }

namespace {

const char* opName(int op) {
  switch (op) {
    case 1 + int(MmaKind::Bf16M16N8K16): return "mma.m16n8k16 bf16";
    case 1 + int(MmaKind::F16M16N8K16): return "mma.m16n8k16 f16";
    case 1 + int(MmaKind::Tf32M16N8K8): return "mma.m16n8k8 tf32";
    case kLdmatrix: return "ldmatrix";
  }
  return "?";
}

// First half of a warp-collective instruction: checks that the whole warp is there, records this
// lane's tag, and waits for the other lanes' deposits. Returns true in the one lane that then has to
// compute every lane's result (the first to run after the barrier), after checking all lanes agree.
bool collectiveArrive(Warp& w, int lane, const CollectiveTag& mine) {
  if (w.size != 32) fault(std::string(opName(mine.op)) + " in a warp of " + std::to_string(w.size) + " threads (the block size is not a multiple of 32)");
  if (w.live != 32) fault(std::string(opName(mine.op)) + " while " + std::to_string(32 - w.live) + " lanes of the warp have exited");
  w.tag[lane] = mine;
  w.tag[lane].gen = w.gen;
  syncWarp();
  if (w.doneGen == w.gen) return false;
  for (int l = 0; l < 32; l++) {
    if (w.tag[l] == w.tag[lane]) continue;
    const CollectiveTag& t = w.tag[l];
    std::string other = t.gen != w.tag[lane].gen ? "did not reach it (exited, or at another barrier or shuffle)" : std::string("called ") + opName(t.op);
    if (t.gen == w.tag[lane].gen && t.op == kLdmatrix && mine.op == kLdmatrix) other = "called ldmatrix .x" + std::to_string(t.count) + (t.trans ? ".trans" : "");
    fault(std::string("warp-collective ") + opName(mine.op) + (mine.op == kLdmatrix ? " .x" + std::to_string(mine.count) + (mine.trans ? ".trans" : "") : "") +
          ": lane " + std::to_string(l) + " of the warp " + other);
  }
  w.doneGen = w.gen;
  return true;
}

inline float halfBits(uint32_t reg, int h, MmaKind kind) {
  const uint16_t v = uint16_t(reg >> (16 * h));
  return kind == MmaKind::Bf16M16N8K16 ? ifa::bf16ToFloat(v) : ifa::halfToFloat(v);
}
// The tensor core reads a .tf32 operand's sign, exponent and top 10 mantissa bits; cvt.rna rounding, if
// wanted, is the kernel's (toTf32).
inline float tf32Bits(uint32_t reg) {
#ifdef IFA_EMU_PLANT_FAULTS
  return ifa::bitsFloat(reg);  // planted: the low 13 bits are not dropped
#else
  return ifa::bitsFloat(reg & 0xffffe000u);
#endif
}

// All 32 lanes' D = C + A·B from the deposited fragments, into w.out. Each output element sums its K
// products in increasing k in fp32 (exact products: bf16, f16 and tf32 have at most 11 significant
// bits), then adds C; the hardware's internal order and precision differ, so tests compare with a
// tolerance anyway.
void computeMma(Warp& w, MmaKind kind) {
  float A[16][16], B[16][8];
  const int K = kind == MmaKind::Tf32M16N8K8 ? 8 : 16;
  for (int l = 0; l < 32; l++) {
    const int g = l >> 2, t = l & 3;
    if (kind == MmaKind::Tf32M16N8K8) {
      // m16n8k8 .tf32: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); b0 (t, g), b1 (t+4, g).
      for (int i = 0; i < 4; i++) A[g + 8 * (i & 1)][t + 4 * (i >> 1)] = tf32Bits(w.a[l][i]);
      for (int i = 0; i < 2; i++) B[t + 4 * i][g] = tf32Bits(w.b[l][i]);
    } else {
      // m16n8k16 .f16/.bf16: register i holds a(2i), a(2i+1): rows g (i even) or g+8 (i odd), columns
      // 2t + h, plus 8 for i ≥ 2; B register i holds rows 2t + h + 8i of column g.
      for (int i = 0; i < 4; i++) {
#ifdef IFA_EMU_PLANT_FAULTS
        const int reg = kind == MmaKind::Bf16M16N8K16 && (i == 1 || i == 2) ? 3 - i : i;  // planted: a1/a2 swapped
#else
        const int reg = i;
#endif
        for (int h = 0; h < 2; h++) A[g + 8 * (i & 1)][2 * t + h + 8 * (i >> 1)] = halfBits(w.a[l][reg], h, kind);
      }
      for (int i = 0; i < 2; i++)
        for (int h = 0; h < 2; h++) B[2 * t + h + 8 * i][g] = halfBits(w.b[l][i], h, kind);
    }
  }
  for (int l = 0; l < 32; l++) {
    const int g = l >> 2, t = l & 3;
    for (int i = 0; i < 4; i++) {  // c_i: row g (+8 for i ≥ 2), column 2t + (i & 1)
      const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
      float s = 0.0f;
      for (int k = 0; k < K; k++) s += A[row][k] * B[k][col];
      w.out[l][i] = ifa::floatBits(w.c[l][i] + s);
    }
  }
}

// All lanes' ldmatrix registers from the deposited row addresses: element (r, c) of matrix j (16-bit,
// at row address r of that matrix) goes to lane 4r + c/2, half c % 2 of register j; with trans, as
// element (c, r) of the transpose, to lane 4c + r/2, half r % 2.
void computeLdmatrix(Warp& w, int count, bool trans) {
  for (int l = 0; l < 32; l++)
    for (int j = 0; j < 4; j++) w.out[l][j] = 0;
#ifdef IFA_EMU_PLANT_FAULTS
  trans = false;  // planted: .trans ignored
#endif
  for (int j = 0; j < count; j++)
    for (int r = 0; r < 8; r++) {
      const unsigned char* row = w.row[8 * j + r];
      for (int c = 0; c < 8; c++) {
        uint16_t v;
        std::memcpy(&v, row + 2 * c, 2);
        const int lane = trans ? 4 * c + r / 2 : 4 * r + c / 2, h = trans ? r % 2 : c % 2;
        w.out[lane][j] |= uint32_t(v) << (16 * h);
      }
    }
}

// Second half: every lane has read its results; the scratch may be reused.
void collectiveLeave() { syncWarp(); }

}  // namespace

void mma(MmaKind kind, float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  Block& bl = *tb;
  const Fiber& f = bl.fibers[bl.cur];
  Warp& w = bl.warps[f.warp];
  const int lane = f.lane;
  for (int i = 0; i < 4; i++) w.a[lane][i] = a[i], w.c[lane][i] = d[i];
  for (int i = 0; i < 2; i++) w.b[lane][i] = b[i];
  CollectiveTag tag;
  tag.op = 1 + int(kind);
  if (collectiveArrive(w, lane, tag)) computeMma(w, kind);
  for (int i = 0; i < 4; i++) d[i] = ifa::bitsFloat(w.out[lane][i]);
  collectiveLeave();
}

void ldmatrix(uint32_t* r, int count, bool trans, const void* rowAddress) {
  Block& bl = *tb;
  const Fiber& f = bl.fibers[bl.cur];
  Warp& w = bl.warps[f.warp];
  const int lane = f.lane;
  if (count != 1 && count != 2 && count != 4) fault("ldmatrix .x" + std::to_string(count) + " (only .x1, .x2, .x4 exist)");
  // Lanes 0 .. 8·count − 1 give row addresses; each row is 16 bytes and must be 16-byte aligned.
  if (lane < 8 * count && (rowAddress == nullptr || reinterpret_cast<uintptr_t>(rowAddress) % 16 != 0))
    fault("ldmatrix: the row address of lane " + std::to_string(lane) + " is not 16-byte aligned");
  w.row[lane] = static_cast<const unsigned char*>(rowAddress);
  CollectiveTag tag;
  tag.op = kLdmatrix;
  tag.count = count;
  tag.trans = trans;
  if (collectiveArrive(w, lane, tag)) computeLdmatrix(w, count, trans);
  for (int j = 0; j < count; j++) r[j] = w.out[lane][j];
  collectiveLeave();
}

void cpAsync(void* smem, const void* gmem, int bytes, bool valid) {
  Block& bl = *tb;
  Fiber& f = bl.fibers[bl.cur];
  if (bytes != 4 && bytes != 8 && bytes != 16) fault("cp.async of " + std::to_string(bytes) + " bytes (only 4, 8, 16 exist)");
  if (reinterpret_cast<uintptr_t>(smem) % unsigned(bytes) != 0) fault("cp.async: shared destination not aligned to its " + std::to_string(bytes) + " bytes");
  // The source is read only when valid (src-size = cp-size); then it must be aligned and lie in device memory.
  if (valid && reinterpret_cast<uintptr_t>(gmem) % unsigned(bytes) != 0) fault("cp.async: global source not aligned to its " + std::to_string(bytes) + " bytes");
  if (valid && !isDeviceRange(gmem, size_t(bytes))) fault("cp.async: global source range is not inside one device allocation");
  AsyncCopy c;
  c.dst = static_cast<unsigned char*>(smem);
  c.group = f.committed;
  c.bytes = bytes;
  if (valid) std::memcpy(c.data, gmem, size_t(bytes));
  else std::memset(c.data, 0, sizeof(c.data));
#ifdef IFA_EMU_PLANT_FAULTS
  std::memcpy(c.dst, c.data, size_t(bytes));  // planted: the copy lands at once
#endif
  f.copies.push_back(c);
}

void cpAsyncCommit() { tb->fibers[tb->cur].committed++; }

void cpAsyncWait(int n) {
  Fiber& f = tb->fibers[tb->cur];
  if (n < 0) n = 0;
  if (unsigned(n) >= f.committed) return;
  // Groups 0 .. committed − n − 1 complete, in issue order; uncommitted copies stay in flight.
  const unsigned limit = f.committed - unsigned(n);
  size_t done = 0;
  while (done < f.copies.size() && f.copies[done].group < limit) {
    std::memcpy(f.copies[done].dst, f.copies[done].data, size_t(f.copies[done].bytes));
    done++;
  }
  f.copies.erase(f.copies.begin(), f.copies.begin() + long(done));
}

int emulatedArch() {
  static const int arch = [] {
    const char* v = std::getenv("IFA_CUDA_EMU_ARCH");
    const int a = v ? std::atoi(v) : 90;
    return a >= 50 && a <= 120 ? a : 90;
  }();
  return arch;
}

cudaError_t funcSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return cudaErrorInvalidDeviceFunction;
  switch (attr) {
    case cudaFuncAttributeMaxDynamicSharedMemorySize:
      return value >= 0 && size_t(value) <= kMaxSharedBytes ? cudaSuccess : cudaErrorInvalidValue;
    case cudaFuncAttributePreferredSharedMemoryCarveout:
      return value >= -1 && value <= 100 ? cudaSuccess : cudaErrorInvalidValue;
  }
  return cudaErrorInvalidValue;
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
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
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
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
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
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->warpSize = 32;
  prop->multiProcessorCount = 1;
  prop->major = ifa_emu::emulatedArch() / 10;  // sm_90 unless IFA_CUDA_EMU_ARCH says otherwise
  prop->minor = ifa_emu::emulatedArch() % 10;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 1; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
  }
  return cudaErrorInvalidValue;
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

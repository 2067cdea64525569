// See fatal-signals.h. Everything the handler touches is prepared by ArmFatal: the paths, an output
// buffer, a buffer for /proc/self/maps and the alternate stack. The handler calls no malloc, no stdio,
// no dlsym/dladdr and takes no lock (the code map is only tried).
#include "fatal-signals.h"

#include <v8.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>

#include "fatal-core.h"
#include "js-stack.h"
#include "parse-hex.h"
#include "signal-json.h"

// Exported by node (v8-wasm-trap-handler-posix.h, not shipped in Node's include folder).
namespace v8 {
bool TryHandleWebAssemblyTrapPosix(int sig_code, siginfo_t* info, void* context);
}

namespace autopsy {
namespace {

constexpr size_t kOutSize = 256 * 1024;
constexpr size_t kMapsSize = 2 * 1024 * 1024;
constexpr size_t kAltStack = 256 * 1024;
constexpr int kMaxNative = 48;
constexpr int kDefaultSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

char g_path[4096];
char g_tmp[4200];
char g_note[4096];
char* g_out = nullptr;
char* g_maps = nullptr;
struct sigaction g_old[65];
bool g_installed[65];
std::atomic<bool> g_armed{false};
std::atomic<long> g_crashing{0};
std::atomic<bool> g_written{false};

const char* SigName(int s) {
  switch (s) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    default: return "signal";
  }
}

const char* CodeName(int sig, int code) {
  switch (code) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_KERNEL: return "SI_KERNEL";
    default: break;
  }
  if (sig == SIGSEGV) return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "";
  if (sig == SIGBUS) return code == BUS_ADRALN ? "BUS_ADRALN" : code == BUS_ADRERR ? "BUS_ADRERR" : code == BUS_OBJERR ? "BUS_OBJERR" : "";
  if (sig == SIGFPE) return code == FPE_INTDIV ? "FPE_INTDIV" : code == FPE_INTOVF ? "FPE_INTOVF" : code == FPE_FLTDIV ? "FPE_FLTDIV" : "";
  if (sig == SIGILL) return code == ILL_ILLOPC ? "ILL_ILLOPC" : code == ILL_ILLOPN ? "ILL_ILLOPN" : code == ILL_PRVOPC ? "ILL_PRVOPC" : "";
  return "";
}

// Reads our own memory through the kernel: a bad pointer is an error, not a second fault.
bool SafeRead(uintptr_t addr, void* buf, size_t len) {
  iovec local = {buf, len};
  iovec remote = {(void*)addr, len};
  return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) == (long)len;
}

size_t g_maps_len = 0;

void ReadMaps() {
  g_maps_len = 0;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  for (;;) {
    ssize_t r = read(fd, g_maps + g_maps_len, kMapsSize - 1 - g_maps_len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    g_maps_len += (size_t)r;
    if (g_maps_len >= kMapsSize - 1) break;
  }
  close(fd);
  g_maps[g_maps_len] = 0;
}

// The mapping holding pc: writes "module" and "offset" (file offset) keys, when it has a path.
void WriteModule(Out& o, uintptr_t pc) {
  const char* p = g_maps;
  const char* end = g_maps + g_maps_len;
  while (p < end) {
    const char* line = p;
    const char* nl = (const char*)memchr(p, '\n', end - p);
    if (!nl) nl = end;
    p = nl + 1;
    const char* q = line;
    unsigned long start = ParseHex(q);
    if (*q != '-') continue;
    q++;
    unsigned long stop = ParseHex(q);
    if (pc < start || pc >= stop) continue;
    while (q < nl && *q == ' ') q++;
    q += 5;  // perms
    unsigned long off = ParseHex(q);
    for (int field = 0; field < 2 && q < nl; field++) {
      while (q < nl && *q == ' ') q++;
      while (q < nl && *q != ' ') q++;
    }
    while (q < nl && *q == ' ') q++;
    if (q >= nl) return;
    char path[1024];
    size_t n = (size_t)(nl - q) < sizeof path - 1 ? (size_t)(nl - q) : sizeof path - 1;
    memcpy(path, q, n);
    path[n] = 0;
    o.S(",");
    o.Key("module");
    o.Str(path);
    o.S(",");
    o.Key("offset");
    o.Hex(pc - start + off);
    return;
  }
}

void WriteFile(const Out& o) {
  int fd = open(g_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  size_t done = 0;
  while (done < o.len) {
    ssize_t w = write(fd, o.p + done, o.len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  close(fd);
  if (done == o.len) rename(g_tmp, g_path);
  else unlink(g_tmp);
}

// The record: written once without the JS frames, then again with them, so that a fault inside V8's
// sampler (a heap already corrupted) still leaves the first record behind.
void WriteRecord(int sig, siginfo_t* info, const ucontext_t* uc, long tid, bool with_js) {
  Out o = {g_out, 0, kOutSize};
  const greg_t* g = uc->uc_mcontext.gregs;
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  o.S("{\"record\":1,");
  o.Key("signal"); o.Str(SigName(sig)); o.S(",");
  o.Key("signo"); o.Dec(sig); o.S(",");
  o.Key("code"); o.Dec(info->si_code); o.S(",");
  o.Key("codeName"); o.Str(CodeName(sig, info->si_code)); o.S(",");
  if (info->si_code <= 0) { o.Key("sentByPid"); o.Dec(info->si_pid); o.S(","); }
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) { o.Key("faultAddress"); o.Hex((uintptr_t)info->si_addr); o.S(","); }
  o.Key("time"); o.Dec((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000); o.S(",");
  o.Key("pid"); o.Dec(getpid()); o.S(",");
  o.Key("tid"); o.Dec(tid); o.S(",");
  o.Key("thread"); o.Str(tid == getpid() ? "main" : "other"); o.S(",");
  if (g_note[0]) { o.Key("process"); o.S(g_note); o.S(","); }
  WriteFatalCoreField(o);
  o.Key("registers"); o.S("{");
  static const struct { const char* n; int r; } kRegs[] = {
      {"rip", REG_RIP}, {"rsp", REG_RSP}, {"rbp", REG_RBP}, {"rax", REG_RAX}, {"rbx", REG_RBX}, {"rcx", REG_RCX},
      {"rdx", REG_RDX}, {"rsi", REG_RSI}, {"rdi", REG_RDI}, {"r8", REG_R8}, {"r9", REG_R9}, {"r10", REG_R10},
      {"r11", REG_R11}, {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14}, {"r15", REG_R15}, {"eflags", REG_EFL}};
  for (size_t i = 0; i < sizeof kRegs / sizeof kRegs[0]; i++) {
    if (i) o.S(",");
    o.Key(kRegs[i].n);
    o.Hex((unsigned long long)g[kRegs[i].r]);
  }
  o.S("},");

  // Native frames: the faulting pc, then the frame-pointer chain. Code built without frame pointers
  // (glibc) ends or skips the chain early; each read goes through process_vm_readv.
  o.Key("nativeFrames"); o.S("[");
  uintptr_t pc = (uintptr_t)g[REG_RIP], fp = (uintptr_t)g[REG_RBP], sp = (uintptr_t)g[REG_RSP];
  int n = 0;
  o.S("{"); o.Key("pc"); o.Hex(pc); WriteModule(o, pc); o.S("}");
  n++;
  while (n < kMaxNative && fp >= sp && fp - sp < (64ul << 20) && (fp & 7) == 0) {
    uintptr_t pair[2];
    if (!SafeRead(fp, pair, sizeof pair) || pair[1] < 4096) break;
    o.S(",{"); o.Key("pc"); o.Hex(pair[1]); WriteModule(o, pair[1]); o.S("}");
    n++;
    if (pair[0] <= fp) break;
    sp = fp;
    fp = pair[0];
  }
  o.S("],");

  o.Key("jsFrames"); o.S("[");
  const char* why = nullptr;
  int vm_state = -1;
  bool map_busy = false;
  if (!with_js) why = "not attempted yet (the record was rewritten with them if the sampler returned)";
  else if (tid != getpid()) why = "the fatal signal hit a thread other than the main thread";
  else if (!MainIsolate()) why = "the addon was not loaded on the main thread";
  else {
    static JsSample sample;
    SampleFromContext(MainIsolate(), uc, &sample);
    if (!sample.count && sample.vm_state != v8::GC) {
      // The fault can hit before the innermost frame is set up (a stack overflow faults while pushing
      // it): V8 then rejects the top frame. Sample again from the caller's frame, found through fp.
      static ucontext_t caller;
      uintptr_t pair[2];
      uintptr_t fp0 = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
      if (SafeRead(fp0, pair, sizeof pair)) {
        memcpy(&caller, uc, sizeof caller);
        caller.uc_mcontext.gregs[REG_RIP] = (greg_t)pair[1];
        caller.uc_mcontext.gregs[REG_RSP] = (greg_t)(fp0 + 16);
        caller.uc_mcontext.gregs[REG_RBP] = (greg_t)pair[0];
        SampleFromContext(MainIsolate(), &caller, &sample);
      }
    }
    vm_state = sample.vm_state;
    static char name[1024];
    for (size_t i = 0; i < sample.count; i++) {
      if (i) o.S(",");
      o.S("{"); o.Key("pc"); o.Hex((uintptr_t)sample.frames[i]);
      bool busy = false;
      if (CodeMapOn() && CodeMapLookup((uintptr_t)sample.frames[i], name, sizeof name, true, &busy)) { o.S(","); o.Key("name"); o.Str(name); }
      map_busy |= busy;
      o.S("}");
    }
    if (!sample.count) why = vm_state == v8::GC ? "V8 returned no frames: a garbage collection was running" : "V8 returned no frames";
  }
  o.S("],");
  o.Key("jsStack"); o.Str(why ? why : "captured"); o.S(",");
  o.Key("vmState"); o.Dec(vm_state); o.S(",");
  o.Key("codeMap"); o.Str(!CodeMapOn() ? "off" : map_busy ? "busy (names left out)" : "on");
  o.S("}\n");
  WriteFile(o);
}

void Resend(int sig, siginfo_t* info, long tid) {
  if (g_installed[sig]) sigaction(sig, &g_old[sig], nullptr);
  // A fault from an instruction (SIGSEGV, SIGBUS, SIGILL, SIGFPE raised by the CPU) happens again when
  // the handler returns, now to the previous action, with the kernel's own siginfo. A sent signal
  // (abort(), kill) is sent again, with the same siginfo; it stays pending until the handler returns.
  bool from_cpu = info->si_code > 0 && sig != SIGABRT;
  if (from_cpu) return;
  if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, info) != 0) syscall(SYS_tgkill, getpid(), tid, sig);
}

void OnFatal(int sig, siginfo_t* info, void* ctx) {
  int saved = errno;
  if ((sig == SIGSEGV || sig == SIGBUS) && v8::TryHandleWebAssemblyTrapPosix(sig, info, ctx)) {
    errno = saved;  // a WebAssembly bounds check: V8 recovers from it
    return;
  }
  long tid = syscall(SYS_gettid);
  long prev = 0;
  if (g_armed.load() && g_crashing.compare_exchange_strong(prev, tid)) {
    ReadMaps();
    if (FatalCoreOn()) MarkFatalCoreWriting();
    WriteRecord(sig, info, (const ucontext_t*)ctx, tid, false);
    if (FatalCoreOn()) {
      // Before the JS sampler: a fault inside it would end the process, and the child with it.
      WriteFatalCore(sig, info, (const ucontext_t*)ctx, tid);
      WriteRecord(sig, info, (const ucontext_t*)ctx, tid, false);
    }
    WriteRecord(sig, info, (const ucontext_t*)ctx, tid, true);
    g_written.store(true);
  } else if (prev != 0 && prev != tid) {
    // Another thread is writing its record: let it finish (2 s at most) before this one dies.
    for (int i = 0; i < 200 && !g_written.load(); i++) {
      timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
  }
  Resend(sig, info, tid);
  errno = saved;
}

bool SetupAltStack(std::string* err) {
  stack_t old;
  if (sigaltstack(nullptr, &old) == 0 && !(old.ss_flags & SS_DISABLE) && old.ss_size >= kAltStack) return true;
  void* mem = mmap(nullptr, kAltStack + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) { *err = "mmap of the alternate stack failed"; return false; }
  mprotect(mem, 4096, PROT_NONE);  // guard page below it
  stack_t ss;
  ss.ss_sp = (char*)mem + 4096;
  ss.ss_size = kAltStack;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, nullptr) != 0) { *err = std::string("sigaltstack: ") + strerror(errno); return false; }
  return true;
}

}  // namespace

bool ArmFatal(const FatalOptions& opts, std::vector<int>* armed, std::string* err) {
  if (opts.path.size() >= sizeof g_path - 1) { *err = "crash record path too long"; return false; }
  if (opts.note.size() >= sizeof g_note - 1) { *err = "note too long"; return false; }
  g_armed.store(false);
  memcpy(g_path, opts.path.c_str(), opts.path.size() + 1);
  memcpy(g_tmp, g_path, opts.path.size());
  memcpy(g_tmp + opts.path.size(), ".tmp", 5);
  memcpy(g_note, opts.note.c_str(), opts.note.size() + 1);
  if (!g_out) {
    void* a = mmap(nullptr, kOutSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* b = mmap(nullptr, kMapsSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED || b == MAP_FAILED) { *err = "mmap of the record buffers failed"; return false; }
    g_out = (char*)a;
    g_maps = (char*)b;
  }
  if (!SetupAltStack(err)) return false;
  if (!opts.core_path.empty() && !ArmFatalCore(opts, err)) return false;
  if (opts.core_path.empty()) DisarmFatalCore();
  std::vector<int> sigs = opts.signals;
  if (sigs.empty()) sigs.assign(kDefaultSignals, kDefaultSignals + 5);
  for (int s : sigs) {
    if (s <= 0 || s >= 65) continue;
    if (g_installed[s]) { armed->push_back(s); continue; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnFatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(s, &sa, &g_old[s]) != 0) continue;
    g_installed[s] = true;
    armed->push_back(s);
  }
  g_armed.store(true);
  return !armed->empty();
}

void DisarmFatal() {
  g_armed.store(false);
  for (int s = 1; s < 65; s++)
    if (g_installed[s]) {
      sigaction(s, &g_old[s], nullptr);
      g_installed[s] = false;
    }
}

}  // namespace autopsy

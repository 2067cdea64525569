// See fatal-core.h. The handler forks; the child writes the ELF core with the live writer's code
// (core-writer.cc) and NT_PRSTATUS from this handler's ucontext, so the faulting thread's registers are
// the core's. Node marks about the whole V8 heap MADV_DONTFORK: the handler scans /proc/self/smaps (raw
// reads into a buffer prepared at arm time), re-marks those ranges for the fork and restores them
// after. The handler waits for the child at most core_timeout_ms, under the disk and memory guards of
// the live writer, then the signal goes on as before.
#include "fatal-core.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asm/prctl.h>

#include "core-writer.h"
#include "dump-prep.h"
#include "parse-hex.h"

namespace autopsy {
namespace {

constexpr size_t kCoreScratch = 16u << 20;
constexpr size_t kSmapsChunk = 64 * 1024;
constexpr size_t kMaxDc = 16384;
struct DcRange { uintptr_t start, end; };

bool g_core_on = false;
CorePlan g_core_plan;
char* g_smaps = nullptr;  // kSmapsChunk read buffer, then a 4 KB line buffer
DcRange* g_dc = nullptr;
int64_t g_core_timeout_ms = 30000;
uint64_t g_core_min_free = 0, g_core_min_available = 0;

struct CoreState {
  const char* state;  // nullptr (no core asked), "writing", "written", "failed", "skipped"
  const char* why;
  uint64_t size, disk_bytes;
  long write_ms, dc_ranges;
};
CoreState g_core = {nullptr, nullptr, 0, 0, 0, 0};
char g_core_why[256];

long MonoMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// "<key> <n> kB" from a small /proc file, in bytes; 0 when missing.
uint64_t ProcKb(const char* path, const char* key) {
  char buf[8192];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == sizeof buf - 1) break;
  }
  close(fd);
  buf[n] = 0;
  size_t kl = strlen(key);
  for (const char* p = buf; *p; p++) {
    if ((p == buf || p[-1] == '\n') && strncmp(p, key, kl) == 0) {
      p += kl;
      while (*p == ' ' || *p == '\t') p++;
      uint64_t v = 0;
      while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
      return v * 1024;
    }
  }
  return 0;
}

uint64_t FreeBytes(int fd) {
  struct statfs sf;
  if (fstatfs(fd, &sf) != 0) return UINT64_MAX;
  return (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize;
}

// The MADV_DONTFORK ranges (VmFlags "dc"), merged when adjacent; returns how many.
long ScanDontFork() {
  int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char* line = g_smaps + kSmapsChunk;
  size_t ll = 0;
  long count = 0;
  uintptr_t start = 0, end = 0;
  for (;;) {
    ssize_t r = read(fd, g_smaps, kSmapsChunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++) {
      char c = g_smaps[i];
      if (c != '\n') {
        if (ll < 4095) line[ll++] = c;
        continue;
      }
      line[ll] = 0;
      char f = line[0];
      if ((f >= '0' && f <= '9') || (f >= 'a' && f <= 'f')) {
        const char* q = line;
        start = ParseHex(q);
        if (*q == '-') { q++; end = ParseHex(q); }
      } else if (strncmp(line, "VmFlags:", 8) == 0) {
        for (const char* q = line + 8; q[0]; q++)
          if (q[0] == ' ' && q[1] == 'd' && q[2] == 'c' && (q[3] == ' ' || q[3] == 0)) {
            if (count && g_dc[count - 1].end == start) g_dc[count - 1].end = end;
            else if (count < (long)kMaxDc) g_dc[count++] = {start, end};
            break;
          }
      }
      ll = 0;
    }
  }
  close(fd);
  return count;
}

void Because(const char* a, long n = -1, const char* b = "") {
  Out o = {g_core_why, 0, sizeof g_core_why};
  o.S(a);
  if (n >= 0) o.Dec(n);
  o.S(b);
  g_core_why[o.len] = 0;
  g_core.why = g_core_why;
}

void WriteCoreNow(int sig, siginfo_t* info, const ucontext_t* uc, long tid) {
  g_core.state = "failed";
  CorePlan& plan = g_core_plan;
  int fd = open(plan.tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) { Because("cannot create the temporary core file (errno ", errno, ")"); return; }
  uint64_t need = ProcKb("/proc/self/status", "RssAnon:") / 10 * 11;
  uint64_t free = FreeBytes(fd);
  if (free != UINT64_MAX && (free < need || free - need < g_core_min_free)) {
    close(fd);
    unlink(plan.tmp_path);
    g_core.state = "skipped";
    Because("not enough disk space: the core needs about ", (long)(need >> 20), " MB (AUTOPSY_CORE_MIN_FREE)");
    return;
  }
  uint64_t avail = g_core_min_available ? ProcKb("/proc/meminfo", "MemAvailable:") : 0;
  if (g_core_min_available && avail && avail < 2 * g_core_min_available) {
    close(fd);
    unlink(plan.tmp_path);
    g_core.state = "skipped";
    Because("not enough free memory: ", (long)(avail >> 20), " MB available (AUTOPSY_CORE_MIN_AVAILABLE)");
    return;
  }
  plan.fd = fd;
  plan.pid = getpid();
  plan.ppid = getppid();
  plan.tid = (pid_t)tid;
  long dc = ScanDontFork();
  g_core.dc_ranges = dc;
  for (long i = 0; i < dc; i++) madvise((void*)g_dc[i].start, g_dc[i].end - g_dc[i].start, MADV_DOFORK);
  unsigned long fs_base = 0;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);
  long t0 = MonoMs();
  pid_t child = _Fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the faulting thread
    DefaultFatalSignalsInChild();
    _exit(WriteCoreInChild(&plan, uc, fs_base, sig, info->si_code));
  }
  int fork_errno = errno;
  for (long i = 0; i < dc; i++) madvise((void*)g_dc[i].start, g_dc[i].end - g_dc[i].start, MADV_DONTFORK);
  if (child < 0) {
    close(fd);
    unlink(plan.tmp_path);
    Because("fork failed (errno ", fork_errno, ")");
    return;
  }
  int status = 0;
  bool reaped = false, lost = false;
  const char* killed = nullptr;
  for (long tick = 0;; tick++) {
    pid_t w = waitpid(child, &status, WNOHANG);
    if (w == child) { reaped = true; break; }
    if (w < 0 && errno != EINTR) { lost = true; break; }  // ECHILD: SIGCHLD ignored, the kernel reaped it
    if (!killed) {
      if (MonoMs() - t0 > g_core_timeout_ms) killed = "timed out";
      else if (tick % 5 == 0 && g_core_min_free && FreeBytes(fd) < g_core_min_free) killed = "disk guard: free space fell below AUTOPSY_CORE_MIN_FREE";
      else if (tick % 5 == 0 && g_core_min_available && ProcKb("/proc/meminfo", "MemAvailable:") < g_core_min_available) killed = "memory guard: MemAvailable fell below AUTOPSY_CORE_MIN_AVAILABLE";
      if (killed) kill(child, SIGKILL);
    }
    timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  close(fd);
  g_core.write_ms = MonoMs() - t0;
  struct stat st;
  if (killed) {
    unlink(plan.tmp_path);
    if (killed[0] == 't') Because("core writer stopped: timed out after ", (long)g_core_timeout_ms, " ms (AUTOPSY_FATAL_CORE_TIMEOUT)");
    else Because(killed);
    return;
  }
  if (reaped && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    unlink(plan.tmp_path);
    if (WIFSIGNALED(status)) Because("the writer died of signal ", WTERMSIG(status));
    else Because(CoreChildMessage(WEXITSTATUS(status)));
    return;
  }
  if (stat(plan.final_path, &st) != 0) {
    unlink(plan.tmp_path);
    Because(lost ? "the writer's exit status was lost (SIGCHLD ignored) and no core is there" : "the core is missing after the writer finished");
    return;
  }
  g_core.state = "written";
  g_core.why = nullptr;
  g_core.size = (uint64_t)st.st_size;
  g_core.disk_bytes = (uint64_t)st.st_blocks * 512;
}

void WriteCoreFieldTo(Out& o) {
  if (!g_core.state) return;
  o.Key("core"); o.S("{");
  o.Key("state"); o.Str(g_core.state); o.S(",");
  o.Key("path"); o.Str(g_core_plan.final_path);
  if (g_core.state[0] == 'w' && g_core.state[1] == 'r' && g_core.state[2] == 'i' && g_core.state[3] == 't' && g_core.state[4] == 't') {
    o.S(","); o.Key("size"); o.Dec((long long)g_core.size);
    o.S(","); o.Key("diskBytes"); o.Dec((long long)g_core.disk_bytes);
  }
  if (g_core.write_ms) { o.S(","); o.Key("writeMs"); o.Dec(g_core.write_ms); }
  if (g_core.dc_ranges) { o.S(","); o.Key("dontForkRanges"); o.Dec(g_core.dc_ranges); }
  if (g_core.why) { o.S(","); o.Key("error"); o.Str(g_core.why); }
  o.S("},");
}

// Everything the core needs that is not async-signal-safe to get: buffers, paths, process fields.
bool ArmCore(const FatalOptions& opts, std::string* err) {
  std::string tmp = opts.core_path + ".tmp-" + std::to_string(getpid());
  if (tmp.size() >= sizeof g_core_plan.tmp_path) { *err = "core path too long"; return false; }
  if (opts.core_note.size() >= sizeof g_core_plan.own_note) { *err = "core note too long"; return false; }
  if (!g_core_plan.scratch) {
    void* a = mmap(nullptr, kCoreScratch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void* b = mmap(nullptr, kSmapsChunk + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* c = mmap(nullptr, kMaxDc * sizeof(DcRange), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED || b == MAP_FAILED || c == MAP_FAILED) { *err = "mmap of the core buffers failed"; return false; }
    g_core_plan.scratch = (char*)a;
    g_smaps = (char*)b;
    g_dc = (DcRange*)c;
  }
  char* scratch = g_core_plan.scratch;
  memset(&g_core_plan, 0, sizeof g_core_plan);
  g_core_plan.scratch = scratch;
  g_core_plan.scratch_size = kCoreScratch;
  FillPlan(g_core_plan);
  memcpy(g_core_plan.final_path, opts.core_path.c_str(), opts.core_path.size() + 1);
  memcpy(g_core_plan.tmp_path, tmp.c_str(), tmp.size() + 1);
  memcpy(g_core_plan.own_note, opts.core_note.data(), opts.core_note.size());
  g_core_plan.own_note_len = opts.core_note.size();
  g_core_timeout_ms = opts.core_timeout_ms > 0 ? opts.core_timeout_ms : 30000;
  g_core_min_free = opts.core_min_free;
  g_core_min_available = opts.core_min_available;
  g_core_on = true;
  return true;
}

}  // namespace

bool ArmFatalCore(const FatalOptions& opts, std::string* err) { return ArmCore(opts, err); }
void DisarmFatalCore() { g_core_on = false; }
bool FatalCoreOn() { return g_core_on; }
void MarkFatalCoreWriting() { g_core.state = "writing"; }
void WriteFatalCore(int sig, siginfo_t* info, const ucontext_t* uc, long tid) { WriteCoreNow(sig, info, uc, tid); }
void WriteFatalCoreField(Out& o) { WriteCoreFieldTo(o); }

}  // namespace autopsy

// Parent side: scan, re-mark the V8 heap for fork, make the main thread fork from a signal handler,
// restore, then reap the writer child under a timeout and memory/disk guards.
#include "dump-prep.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <asm/prctl.h>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "core-writer.h"

namespace autopsy {
namespace {

constexpr size_t kScratch = 16u << 20;

struct Range { uintptr_t start, end; };

// What the handler reads and writes. One dump at a time (g_busy).
CorePlan g_plan;
std::atomic<bool> g_armed{false};
int g_pipe_wr = -1;
pid_t g_child = 0;
int g_fork_errno = 0;
int64_t g_enter_ns = 0, g_leave_ns = 0;
int g_signo = 0;
struct sigaction g_old_action;
std::mutex g_busy;
bool g_handler_left_installed = false;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double Ms(int64_t ns) { return ns / 1e6; }

// Runs on the main thread. Async-signal-safe only.
void OnSignal(int sig, siginfo_t* info, void* ctx) {
  int saved = errno;
  if (!g_armed.load() || info->si_code != SI_TKILL || info->si_pid != getpid()) {
    // Not ours (the app's own use of this signal while ours was installed): pass it on.
    if ((g_old_action.sa_flags & SA_SIGINFO) && g_old_action.sa_sigaction) g_old_action.sa_sigaction(sig, info, ctx);
    else if (g_old_action.sa_handler != SIG_DFL && g_old_action.sa_handler != SIG_IGN && g_old_action.sa_handler) g_old_action.sa_handler(sig);
    errno = saved;
    return;
  }
  g_armed.store(false);
  g_enter_ns = NowNs();
  unsigned long fs_base = 0;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);
  pid_t pid = _Fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    DefaultFatalSignalsInChild();
    setpriority(PRIO_PROCESS, 0, 10);  // the app's threads come first
    _exit(WriteCoreInChild(&g_plan, (const ucontext_t*)ctx, fs_base));
  }
  g_child = pid;
  g_fork_errno = pid < 0 ? errno : 0;
  g_leave_ns = NowNs();
  char c = 1;
  ssize_t ignored = write(g_pipe_wr, &c, 1);
  (void)ignored;
  errno = saved;
}

// MADV_DONTFORK ranges (VmFlags "dc"): Node 20 marks about the whole V8 heap so.
std::vector<Range> DontForkRanges() {
  std::vector<Range> out;
  std::ifstream in("/proc/self/smaps");
  std::string line;
  uintptr_t start = 0, end = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    char c = line[0];
    bool header = ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) && line.find('-') != std::string::npos && line.find(':') > line.find(' ');
    if (header) {
      sscanf(line.c_str(), "%lx-%lx", &start, &end);
    } else if (line.compare(0, 8, "VmFlags:") == 0) {
      std::istringstream flags(line.substr(8));
      std::string f;
      while (flags >> f)
        if (f == "dc") {
          if (!out.empty() && out.back().end == start) out.back().end = end;
          else out.push_back({start, end});
          break;
        }
    }
  }
  return out;
}

std::string ReadSmall(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t MemAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return UINT64_MAX;
}

uint64_t FreeBytes(const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (dir.empty()) dir = ".";
  struct statvfs sv;
  if (statvfs(dir.c_str(), &sv) != 0) return UINT64_MAX;
  return (uint64_t)sv.f_bavail * sv.f_frsize;
}

}  // namespace

void FillPlan(CorePlan& p) {
  p.pid = getpid();
  p.ppid = getppid();
  p.pgrp = getpgrp();
  p.sid = getsid(0);
  p.uid = getuid();
  p.gid = getgid();
  std::string comm = ReadSmall("/proc/self/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  strncpy(p.fname, comm.c_str(), sizeof p.fname - 1);
  std::string cmd = ReadSmall("/proc/self/cmdline");
  for (char& c : cmd) if (c == 0) c = ' ';
  while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
  strncpy(p.psargs, cmd.c_str(), sizeof p.psargs - 1);
  std::string auxv = ReadSmall("/proc/self/auxv");
  p.auxv_len = auxv.size() <= sizeof p.auxv ? auxv.size() : 0;
  memcpy(p.auxv, auxv.data(), p.auxv_len);
}

namespace {

const char* ChildMessage(int code) {
  switch (code) {
    case kChildMaps: return "the writer could not read /proc/self/maps";
    case kChildPagemap: return "the writer could not open /proc/self/pagemap";
    case kChildTooMany: return "too many memory mappings (more than 32768)";
    case kChildWrite: return "writing the core failed (disk full or I/O error)";
    case kChildRename: return "renaming the finished core failed";
    default: return "the writer failed";
  }
}

}  // namespace

const char* CoreChildMessage(int code) { return ChildMessage(code); }

bool CoreSupported() { return true; }

DumpResult RunDump(const DumpOptions& opts) {
  DumpResult res;
  std::unique_lock<std::mutex> lock(g_busy, std::try_to_lock);
  if (!lock.owns_lock()) { res.error = "a core dump is already being written"; return res; }
  if (g_handler_left_installed) { res.error = "an earlier core dump's signal never reached the main thread; not trying again"; return res; }

  memset(&g_plan, 0, sizeof g_plan);
  std::string tmp = opts.path + ".tmp-" + std::to_string(getpid());
  if (opts.path.size() >= sizeof g_plan.final_path || tmp.size() >= sizeof g_plan.tmp_path) { res.error = "core path too long"; return res; }
  strcpy(g_plan.final_path, opts.path.c_str());
  strcpy(g_plan.tmp_path, tmp.c_str());
  FillPlan(g_plan);
  g_plan.own_note_len = opts.own_note.size() < sizeof g_plan.own_note ? opts.own_note.size() : 0;
  memcpy(g_plan.own_note, opts.own_note.data(), g_plan.own_note_len);

  int64_t t0 = NowNs();
  std::vector<Range> dc = DontForkRanges();
  res.scan_ms = Ms(NowNs() - t0);
  res.dc_ranges = dc.size();
  for (auto& r : dc) res.dc_bytes += r.end - r.start;

  void* scratch = mmap(nullptr, kScratch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (scratch == MAP_FAILED) { res.error = std::string("mmap: ") + strerror(errno); return res; }
  g_plan.scratch = (char*)scratch;
  g_plan.scratch_size = kScratch;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) { res.error = "cannot create " + tmp + ": " + strerror(errno); munmap(scratch, kScratch); return res; }
  g_plan.fd = fd;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) { res.error = std::string("pipe: ") + strerror(errno); close(fd); unlink(tmp.c_str()); munmap(scratch, kScratch); return res; }
  g_pipe_wr = pipefd[1];
  g_child = 0;

  // A real-time signal that glibc does not reserve; ours only while armed, then the old action is back.
  g_signo = SIGRTMIN + 6;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(g_signo, &sa, &g_old_action);

  int64_t t1 = NowNs();
  for (auto& r : dc) madvise((void*)r.start, r.end - r.start, MADV_DOFORK);  // ranges gone since the scan fail harmlessly
  res.madvise_ms = Ms(NowNs() - t1);

  g_armed.store(true);
  int64_t sent = NowNs();
  pid_t pid = getpid();
  bool delivered = false;
  if (syscall(SYS_tgkill, pid, pid, g_signo) == 0) {
    struct pollfd pfd = {pipefd[0], POLLIN, 0};
    int pr;
    do pr = poll(&pfd, 1, 10000); while (pr < 0 && errno == EINTR);
    delivered = pr == 1;
  }
  int64_t t2 = NowNs();
  for (auto& r : dc) madvise((void*)r.start, r.end - r.start, MADV_DONTFORK);
  res.madvise_ms += Ms(NowNs() - t2);
  close(pipefd[0]);
  close(fd);  // the child has its own copy
  if (!delivered) {
    // The signal may still arrive: leave our handler (disarmed, it passes the signal on) installed.
    g_armed.store(false);
    g_handler_left_installed = true;
    close(pipefd[1]);
    unlink(tmp.c_str());
    munmap(scratch, kScratch);
    res.error = "the main thread did not take the signal within 10 s";
    return res;
  }
  sigaction(g_signo, &g_old_action, nullptr);
  close(pipefd[1]);
  res.signal_ms = Ms(g_enter_ns - sent);
  res.fork_ms = Ms(g_leave_ns - g_enter_ns);
  if (g_child < 0) {
    res.error = std::string("fork: ") + strerror(g_fork_errno);
    unlink(tmp.c_str());
    munmap(scratch, kScratch);
    return res;
  }
  res.child_pid = g_child;

  // Reap, with a timeout and the memory and disk guards.
  int status = 0;
  std::string killed;
  int64_t deadline = g_leave_ns + opts.timeout_ms * 1000000;
  int tick = 0;
  for (;;) {
    pid_t w = waitpid(g_child, &status, WNOHANG);
    if (w == g_child) break;
    if (w < 0 && errno != EINTR) { res.error = std::string("waitpid: ") + strerror(errno); break; }
    if (killed.empty()) {
      if (NowNs() > deadline) killed = "timed out after " + std::to_string(opts.timeout_ms) + " ms";
      else if (tick % 5 == 0 && opts.min_available && MemAvailable() < opts.min_available) killed = "memory guard: MemAvailable fell below " + std::to_string(opts.min_available >> 20) + " MB";
      else if (tick % 5 == 0 && opts.min_free && FreeBytes(opts.path) < opts.min_free) killed = "disk guard: free space fell below " + std::to_string(opts.min_free >> 20) + " MB";
      if (!killed.empty()) kill(g_child, SIGKILL);
    }
    tick++;
    usleep(20000);
  }
  res.write_ms = Ms(NowNs() - g_leave_ns);
  munmap(scratch, kScratch);
  if (!killed.empty()) { unlink(tmp.c_str()); res.error = "core writer stopped: " + killed; return res; }
  if (!res.error.empty()) { unlink(tmp.c_str()); return res; }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    unlink(tmp.c_str());
    res.error = WIFSIGNALED(status) ? "the writer died of signal " + std::to_string(WTERMSIG(status)) : ChildMessage(WEXITSTATUS(status));
    return res;
  }
  struct stat st;
  if (stat(opts.path.c_str(), &st) != 0) { res.error = "the core is missing after the writer finished"; return res; }
  res.size = st.st_size;
  res.disk_bytes = (uint64_t)st.st_blocks * 512;
  res.ok = true;
  return res;
}

}  // namespace autopsy

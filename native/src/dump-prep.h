// The parent side of a live core dump, run on a thread of the addon's own (never the main thread).
#pragma once
#include <stdint.h>
#include <string>

namespace autopsy {

struct DumpOptions {
  std::string path;           // final name of the core; written as path + ".tmp-<pid>" first
  int64_t timeout_ms = 120000;  // the child is killed after this long
  uint64_t min_available = 0; // kill the child when MemAvailable falls below this many bytes
  uint64_t min_free = 0;      // kill the child when the core's file system has less free space
  std::string own_note;       // text for the AUTOPSY note
};

struct DumpResult {
  bool ok = false;
  std::string error;
  double scan_ms = 0;     // /proc/self/smaps scan for MADV_DONTFORK ranges (this thread)
  double madvise_ms = 0;  // re-marking them MADV_DOFORK, and restoring (this thread)
  double signal_ms = 0;   // from tgkill to the handler's entry on the main thread
  double fork_ms = 0;     // the main thread inside the handler: the whole freeze
  double write_ms = 0;    // fork to the child's exit
  uint64_t dc_ranges = 0, dc_bytes = 0;
  uint64_t size = 0, disk_bytes = 0;
  int child_pid = 0;
};

// Blocking. Never call it on the main thread: it waits for the main thread to take the signal.
DumpResult RunDump(const DumpOptions& opts);

struct CorePlan;
// The process fields of a core (pid, ids, comm, cmdline, auxv): not async-signal-safe, call it before.
void FillPlan(CorePlan& p);
// What a writer child's exit code means.
const char* CoreChildMessage(int code);

// Whether this build can write cores (Linux x64).
bool CoreSupported();

}  // namespace autopsy

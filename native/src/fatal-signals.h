// Fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): a crash record written from the handler
// with async-signal-safe calls only, then the previous action restored and the signal delivered again,
// so the process dies exactly as it would have.
#pragma once
#include <stdint.h>

#include <string>
#include <vector>

namespace autopsy {

struct FatalOptions {
  std::string path;          // where the crash record goes (written as path + ".tmp", then renamed)
  std::vector<int> signals;  // empty: the five defaults
  std::string note;          // JSON object text copied into the record as "process"
  // AUTOPSY_FATAL_CORE=1: a core of the crashing process, written by a child forked from the handler.
  std::string core_path;     // empty: no core; written as core_path + ".tmp-<pid>", then renamed
  std::string core_note;     // text of the core's AUTOPSY note ("key=value" lines)
  int64_t core_timeout_ms = 30000;  // the handler waits this long for the child, then kills it
  uint64_t core_min_free = 0;       // free bytes that must remain on the core's file system
  uint64_t core_min_available = 0;  // MemAvailable below which the child is stopped
};

// On the main thread (its alternate signal stack). Arming again only updates the path and note.
bool ArmFatal(const FatalOptions& opts, std::vector<int>* armed, std::string* err);
void DisarmFatal();

}  // namespace autopsy

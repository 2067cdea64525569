// Fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): a crash record written from the handler
// with async-signal-safe calls only, then the previous action restored and the signal delivered again,
// so the process dies exactly as it would have.
#pragma once
#include <string>
#include <vector>

namespace autopsy {

struct FatalOptions {
  std::string path;          // where the crash record goes (written as path + ".tmp", then renamed)
  std::vector<int> signals;  // empty: the five defaults
  std::string note;          // JSON object text copied into the record as "process"
};

// On the main thread (its alternate signal stack). Arming again only updates the path and note.
bool ArmFatal(const FatalOptions& opts, std::vector<int>* armed, std::string* err);
void DisarmFatal();

}  // namespace autopsy

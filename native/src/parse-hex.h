// Lower-case hex as /proc writes it (maps, smaps), parsed in place. Async-signal-safe: it runs in the
// fatal-signal handler and in the core writer's child.
#pragma once
#include <stdint.h>

namespace autopsy {

// Reads hex digits from p, leaving p at the first other character.
inline uint64_t ParseHex(const char*& p) {
  uint64_t v = 0;
  for (;;) {
    char c = *p;
    if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
    else break;
    p++;
  }
  return v;
}

}  // namespace autopsy

// A JSON writer over a buffer prepared in advance: for signal handlers (no malloc, no stdio). Output
// past the buffer's end is dropped.
#pragma once
#include <stddef.h>

namespace autopsy {

struct Out {
  char* p;
  size_t len, cap;
  void Ch(char c) { if (len + 1 < cap) p[len++] = c; }
  void S(const char* s) { while (*s) Ch(*s++); }
  void Dec(long long v) {
    char b[24];
    int n = 0;
    bool neg = v < 0;
    unsigned long long u = neg ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do { b[n++] = '0' + u % 10; u /= 10; } while (u);
    if (neg) Ch('-');
    while (n) Ch(b[--n]);
  }
  void Hex(unsigned long long v) {
    char b[20];
    int n = 0;
    do { b[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    S("\"0x");
    while (n) Ch(b[--n]);
    Ch('"');
  }
  void Str(const char* s, size_t max = 4096) {
    Ch('"');
    for (size_t i = 0; s[i] && i < max; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c == '"' || c == '\\') { Ch('\\'); Ch((char)c); }
      else if (c < 0x20) { S("\\u00"); Ch("0123456789abcdef"[c >> 4]); Ch("0123456789abcdef"[c & 15]); }
      else Ch((char)c);
    }
    Ch('"');
  }
  void Key(const char* k) { Ch('"'); S(k); S("\":"); }
};

}  // namespace autopsy

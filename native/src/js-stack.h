// JS stacks of a thread that cannot run JS: blocked in a system call, or dying of a fatal signal.
// V8's own sampler API (Isolate::GetStackSample, what the CPU profiler calls from its signal handler)
// gives the frames' code addresses; a code map fed by SetJitCodeEventHandler names them.
#pragma once
#include <napi.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

namespace autopsy {

constexpr size_t kMaxJsFrames = 64;

struct JsSample {
  void* frames[kMaxJsFrames];
  size_t count;
  int vm_state;  // v8::StateTag
  uintptr_t pc, sp, fp;
  bool has_js;   // V8 saw JS on the stack (js_entry_sp != 0)
};

// Async-signal-safe: the frames of the isolate's thread, from a signal handler running on it.
void SampleFromContext(void* isolate, const ucontext_t* uc, JsSample* out);

// Code map. Start on the isolate's thread; lookups from any thread take its lock.
bool CodeMapOn();
// Copies the name of the code holding pc into out (NUL-terminated); false when unknown.
// try_only: never wait for the lock (signal handlers); returns false with *busy = true when held.
bool CodeMapLookup(uintptr_t pc, char* out, size_t cap, bool try_only, bool* busy);

// The main isolate (set by the addon's Init on the main thread).
void SetMainIsolate(void* isolate);
void* MainIsolate();

// Adds startCodeMap, sampleMainThread, armFatal, disarmFatal to the exports.
void RegisterJsStackExports(Napi::Env env, Napi::Object exports);

}  // namespace autopsy

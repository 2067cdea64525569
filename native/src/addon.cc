// autopsy-ts native addon (N-API through node-addon-api; one build loads in every Node >= 20).
// Exports: coreSupported, writeCore(options) -> Promise, probeIsolate(), mapRing(); issue 8's in js-stack.cc.
#include "mmap-ring.h"
#include <napi.h>
#include <v8.h>

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <thread>

#ifndef AUTOPSY_NO_CORE
#include "dump-prep.h"
#include "js-stack.h"
#endif

namespace {

void* g_main_isolate = nullptr;

bool OnMainThread() { return syscall(SYS_gettid) == getpid(); }

// Candidates for the offset of the isolate's c_entry_fp (in ThreadLocalTop): while JS calls into
// C++, c_entry_fp holds the exit frame's fp, a little above our own frame. Other fields also point
// into the stack (handler, js_entry_sp), so the caller probes at two JS stack depths and keeps the
// field whose distance to our frame stays the same (src/native/index.ts). Offsets move between V8
// versions, so no compile-time constant would hold for every Node that this one build loads in.
Napi::Array CEntryFpCandidates(Napi::Env env, void* isolate) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  const uintptr_t* words = (const uintptr_t*)isolate;
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (long i = 0; i < 4096 / 8; i++) {
    uintptr_t v = words[i];
    if (v > sp && v < sp + 256 * 1024 && (v & 7) == 0) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::Number::New(env, (double)(i * 8)));
      pair.Set(1u, Napi::Number::New(env, (double)(v - sp)));
      out.Set(n++, pair);
    }
  }
  return out;
}

std::string Hex(uintptr_t v) {
  char b[32];
  snprintf(b, sizeof b, "0x%lx", (unsigned long)v);
  return b;
}

Napi::Value ProbeIsolate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  void* iso = v8::Isolate::GetCurrent();
  o.Set("isolate", Hex((uintptr_t)iso));
  o.Set("mainThread", OnMainThread());
  if (iso) o.Set("candidates", CEntryFpCandidates(env, iso));
  o.Set("sp", Hex((uintptr_t)__builtin_frame_address(0)));
  return o;
}

#ifndef AUTOPSY_NO_CORE
struct Job {
  napi_deferred deferred;
  autopsy::DumpOptions opts;
  autopsy::DumpResult res;
  Napi::ThreadSafeFunction tsfn;
};

// Settles the promise with raw N-API calls whose failures are ignored: when the process is exiting
// while a core is written, the environment is being torn down, and node-addon-api's wrappers would turn
// a failed call into a fatal "napi_throw" error, changing how the process ends.
void Settle(Napi::Env env, Napi::Function, Job* job) {
  napi_env e = env;
  const autopsy::DumpResult& r = job->res;
  napi_value o;
  if (e == nullptr || napi_create_object(e, &o) != napi_ok) {
    delete job;
    return;
  }
  auto num = [&](const char* k, double v) {
    napi_value x;
    if (napi_create_double(e, v, &x) == napi_ok) napi_set_named_property(e, o, k, x);
  };
  auto str = [&](const char* k, const std::string& v) {
    napi_value x;
    if (napi_create_string_utf8(e, v.c_str(), v.size(), &x) == napi_ok) napi_set_named_property(e, o, k, x);
  };
  napi_value ok;
  if (napi_get_boolean(e, r.ok, &ok) == napi_ok) napi_set_named_property(e, o, "ok", ok);
  if (!r.error.empty()) str("error", r.error);
  str("path", job->opts.path);
  num("size", (double)r.size);
  num("diskBytes", (double)r.disk_bytes);
  num("scanMs", r.scan_ms);
  num("madviseMs", r.madvise_ms);
  num("signalMs", r.signal_ms);
  num("forkMs", r.fork_ms);
  num("writeMs", r.write_ms);
  num("dontForkRanges", (double)r.dc_ranges);
  num("dontForkBytes", (double)r.dc_bytes);
  num("childPid", (double)r.child_pid);
  napi_resolve_deferred(e, job->deferred, o);
  delete job;
}

// writeCore({path, timeoutMs, minAvailable, minFree, note}): resolves with the result, never rejects
// for a failed dump ({ok: false, error}); throws only for bad arguments.
Napi::Value WriteCore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "writeCore(options): options must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object a = info[0].As<Napi::Object>();
  if (!a.Get("path").IsString()) {
    Napi::TypeError::New(env, "writeCore: path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto num = [&](const char* k, double d) { Napi::Value v = a.Get(k); return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : d; };
  napi_value promise_value;
  Job* job = new Job{nullptr, {}, {}, {}};
  if (napi_create_promise(env, &job->deferred, &promise_value) != napi_ok) {
    delete job;
    Napi::Error::New(env, "writeCore: cannot create a promise").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job->opts.path = a.Get("path").As<Napi::String>().Utf8Value();
  job->opts.timeout_ms = (int64_t)num("timeoutMs", 120000);
  job->opts.min_available = (uint64_t)num("minAvailable", 0);
  job->opts.min_free = (uint64_t)num("minFree", 0);
  if (a.Get("note").IsString()) job->opts.own_note = a.Get("note").As<Napi::String>().Utf8Value();
  Napi::Value promise(env, promise_value);
  job->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "autopsy-core", 0, 1);
  job->tsfn.Unref(env);  // a dump in flight never keeps the process alive
  std::thread([job] {
    job->res = autopsy::RunDump(job->opts);
    Napi::ThreadSafeFunction tsfn = job->tsfn;  // job is deleted by Settle
    tsfn.BlockingCall(job, Settle);
    tsfn.Release();
  }).detach();
  return promise;
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (OnMainThread()) g_main_isolate = v8::Isolate::GetCurrent();
#ifndef AUTOPSY_NO_CORE
  // Issue 8: fatal signals and JS stacks of a blocked main thread (js-stack.cc, fatal-signals.cc).
  if (OnMainThread()) autopsy::SetMainIsolate(g_main_isolate);
  autopsy::RegisterJsStackExports(env, exports);
#endif
#ifndef AUTOPSY_NO_CORE
  exports.Set("coreSupported", true);
  exports.Set("writeCore", Napi::Function::New(env, WriteCore, "writeCore"));
#else
  exports.Set("coreSupported", false);
#endif
  exports.Set("probeIsolate", Napi::Function::New(env, ProbeIsolate, "probeIsolate"));
  autopsy::RegisterMapRing(env, exports);
  exports.Set("mainIsolate", Hex((uintptr_t)g_main_isolate));
  return exports;
}

}  // namespace

NODE_API_MODULE(autopsy_native, Init)

// autopsy-ts native addon (N-API through node-addon-api; one build loads in every Node >= 20).
// Exports: coreSupported, writeCore(options) -> Promise, probeIsolate(), mapRing(); issue 8's in js-stack.cc.
#include "heap-numbers.h"
#include "gc-watch.h"
#include "heartbeat.h"
#include "mmap-ring.h"
#include <napi.h>
#include <v8.h>

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

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
// A dump in flight outlives the JS call that started it, and maybe the environment too: the process
// can end its loop (the thread-safe function is unref'd) or a worker can be terminated while the child
// writes. At environment teardown Node deletes the thread-safe function whatever its thread count, so
// a dump thread that called into it afterwards used freed memory: napi_release_threadsafe_function
// aborted in uv_mutex_lock (SIGABRT at exit, reproduced with a delay between the call and the release;
// gdb: abort <- uv_mutex_lock <- napi_release_threadsafe_function <- our thread, while the main thread
// was in node::TearDownOncePerProcess). An environment cleanup hook now marks the job under its mutex,
// and the thread touches the function only while holding that mutex and seeing the environment alive.
struct Job {
  napi_deferred deferred = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  autopsy::DumpOptions opts;
  autopsy::DumpResult res;
  std::mutex mu;
  bool env_gone = false;
  // Two owners: the environment side (the cleanup hook, or the settling call that removes it) and the
  // dump thread (whose reference passes to its queued call).
  std::atomic<int> refs{2};
  void Unref() {
    if (refs.fetch_sub(1) == 1) delete this;
  }
};

// Main thread, environment teardown. Runs before the thread-safe function is freed: Node frees it in a
// handle-close callback, after every cleanup hook has run.
void OnEnvCleanup(void* arg) {
  Job* job = (Job*)arg;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    job->env_gone = true;
  }
  job->Unref();
}

// Resolves the promise with raw N-API calls whose failures are ignored: node-addon-api's wrappers would
// turn a failed call during teardown into a fatal "napi_throw" error, changing how the process ends.
void Settle(napi_env e, Job* job) {
  const autopsy::DumpResult& r = job->res;
  napi_value o;
  if (napi_create_object(e, &o) != napi_ok) return;
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
}

// The queued call. env is null when Node empties the queue of a function being deleted (teardown).
void CallJs(napi_env env, napi_value, void*, void* data) {
  Job* job = (Job*)data;
  if (env != nullptr) {
    bool gone;
    {
      std::lock_guard<std::mutex> lock(job->mu);
      gone = job->env_gone;
    }
    if (!gone) {
      napi_remove_env_cleanup_hook(env, OnEnvCleanup, job);
      Settle(env, job);
      job->Unref();  // the environment's reference
    }
  }
  job->Unref();  // the dump thread's, carried by this call
}

void DumpThread(Job* job) {
  job->res = autopsy::RunDump(job->opts);
  std::unique_lock<std::mutex> lock(job->mu);
  if (job->env_gone) {
    lock.unlock();
    job->Unref();
    return;
  }
  // While we hold mu the cleanup hook cannot finish, so the function cannot be freed under us.
  napi_status s = napi_call_threadsafe_function(job->tsfn, job, napi_tsfn_blocking);
  if (s != napi_closing) napi_release_threadsafe_function(job->tsfn, napi_tsfn_release);
  lock.unlock();
  if (s != napi_ok) job->Unref();  // not queued: no call will carry our reference
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
  Job* job = new Job();
  job->opts.path = a.Get("path").As<Napi::String>().Utf8Value();
  job->opts.timeout_ms = (int64_t)num("timeoutMs", 120000);
  job->opts.min_available = (uint64_t)num("minAvailable", 0);
  job->opts.min_free = (uint64_t)num("minFree", 0);
  if (a.Get("note").IsString()) job->opts.own_note = a.Get("note").As<Napi::String>().Utf8Value();
  napi_value promise, name;
  bool made = napi_create_promise(env, &job->deferred, &promise) == napi_ok &&
              napi_create_string_utf8(env, "autopsy-core", NAPI_AUTO_LENGTH, &name) == napi_ok &&
              napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, nullptr, CallJs, &job->tsfn) == napi_ok;
  if (!made) {
    if (job->tsfn) napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    delete job;
    Napi::Error::New(env, "writeCore: cannot create a promise").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  napi_unref_threadsafe_function(env, job->tsfn);  // a dump in flight never keeps the process alive
  // Added after the function, so it runs first at teardown (hooks run newest first); either way it
  // runs before the function is freed.
  napi_add_env_cleanup_hook(env, OnEnvCleanup, job);
  // pthread directly: std::thread reports a failure by throwing, and this addon is built without exceptions.
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&t, &attr, [](void* j) -> void* { DumpThread((Job*)j); return nullptr; }, job);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    job->res.error = std::string("cannot start the dump thread: ") + strerror(err);
    napi_remove_env_cleanup_hook(env, OnEnvCleanup, job);
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    Settle(env, job);
    delete job;
  }
  return Napi::Value(env, promise);
}

// A worker's environment unloads the addons it loaded (dlclose) when it ends: a dump thread still
// running there would execute unmapped code. The addon pins itself once loaded: never unloaded.
void PinLibrary() {
  Dl_info dl;
  if (dladdr((void*)&PinLibrary, &dl) && dl.dli_fname) dlopen(dl.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
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
  PinLibrary();
  exports.Set("coreSupported", true);
  exports.Set("writeCore", Napi::Function::New(env, WriteCore, "writeCore"));
#else
  exports.Set("coreSupported", false);
#endif
  exports.Set("probeIsolate", Napi::Function::New(env, ProbeIsolate, "probeIsolate"));
  autopsy::RegisterMapRing(env, exports);
  autopsy::RegisterHeapRecords(env, exports);  // heap-numbers.cc: the snapshot parser's record scanner, releasePages
  autopsy::RegisterHeartbeat(env, exports);     // heartbeat.cc: the hang watchdog's heartbeat timer
  autopsy::RegisterGcWatch(env, exports);       // gc-watch.cc: the flight recorder's GC counts
  exports.Set("mainIsolate", Hex((uintptr_t)g_main_isolate));
  // Whether this environment runs on the process's main thread: what worker_threads.isMainThread says,
  // without loading worker_threads (and its MessagePort, serdes and locks modules) into every process.
  exports.Set("mainThread", OnMainThread());
  return exports;
}

}  // namespace

NODE_API_MODULE(autopsy_native, Init)

// See js-stack.h. The code map, the sampler of a blocked main thread, and the N-API glue of issue 8.
#include "js-stack.h"

#include <v8.h>

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "fatal-signals.h"

namespace autopsy {
namespace {

std::atomic<void*> g_isolate{nullptr};

// ---- Code map --------------------------------------------------------------------------------
struct CodeEntry {
  size_t size;
  std::string name;
};
std::mutex g_code_mu;
std::map<uintptr_t, CodeEntry>* g_code = nullptr;  // never freed: V8 may call the handler until exit
std::atomic<bool> g_code_on{false};
constexpr size_t kMaxCodeEntries = 400000;  // ~40 MB of names at worst; beyond it new code stays unnamed
uint64_t g_code_events = 0, g_code_dropped = 0;

void OnJitEvent(const v8::JitCodeEvent* e) {
  if (!e || !g_code) return;
  uintptr_t start = (uintptr_t)e->code_start;
  switch (e->type) {
    case v8::JitCodeEvent::CODE_ADDED: {
      std::lock_guard<std::mutex> lock(g_code_mu);
      g_code_events++;
      if (g_code->size() >= kMaxCodeEntries && !g_code->count(start)) { g_code_dropped++; return; }
      CodeEntry& c = (*g_code)[start];
      c.size = e->code_len;
      c.name.assign(e->name.str ? e->name.str : "", e->name.str ? e->name.len : 0);
      break;
    }
    case v8::JitCodeEvent::CODE_MOVED: {
      std::lock_guard<std::mutex> lock(g_code_mu);
      auto it = g_code->find(start);
      if (it == g_code->end()) return;
      CodeEntry moved = std::move(it->second);
      g_code->erase(it);
      (*g_code)[(uintptr_t)e->new_code_start] = std::move(moved);
      break;
    }
    case v8::JitCodeEvent::CODE_REMOVED: {
      std::lock_guard<std::mutex> lock(g_code_mu);
      g_code->erase(start);
      break;
    }
    default:
      break;
  }
}

bool LookupLocked(uintptr_t pc, char* out, size_t cap) {
  auto it = g_code->upper_bound(pc);
  if (it == g_code->begin()) return false;
  --it;
  if (pc >= it->first + (it->second.size ? it->second.size : 1)) return false;
  size_t n = it->second.name.size() < cap - 1 ? it->second.name.size() : cap - 1;
  memcpy(out, it->second.name.data(), n);
  out[n] = 0;
  return true;
}

// ---- Sampling a blocked main thread ---------------------------------------------------------
// One capture at a time (g_sample_mu on the requesting thread). The handler only fills g_sample when
// it finds the request still open (kRequested -> kWriting), so a late signal (a thread in D state
// that runs the handler after we gave up) never writes into a sample being read.
enum : int { kIdle = 0, kRequested = 1, kWriting = 2, kDone = 3 };
std::atomic<int> g_req{kIdle};
JsSample g_sample;
sem_t g_sem;
std::mutex g_sample_mu;
bool g_sampler_installed = false;
struct sigaction g_sampler_old;
int g_sampler_sig = 0;

void OnSampleSignal(int sig, siginfo_t* info, void* ctx) {
  int saved = errno;
  int expected = kRequested;
  bool ours = info->si_code == SI_TKILL && info->si_pid == getpid();
  if (ours && g_req.compare_exchange_strong(expected, kWriting)) {
    SampleFromContext(g_isolate.load(), (const ucontext_t*)ctx, &g_sample);
    g_req.store(kDone);
    sem_post(&g_sem);
  } else if (!ours) {
    if ((g_sampler_old.sa_flags & SA_SIGINFO) && g_sampler_old.sa_sigaction) g_sampler_old.sa_sigaction(sig, info, ctx);
    else if (g_sampler_old.sa_handler != SIG_DFL && g_sampler_old.sa_handler != SIG_IGN && g_sampler_old.sa_handler) g_sampler_old.sa_handler(sig);
  }
  errno = saved;
}

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

std::string Hex(uintptr_t v) {
  char b[32];
  snprintf(b, sizeof b, "0x%lx", (unsigned long)v);
  return b;
}

// startCodeMap(): on the main thread. Enumerates the code that exists, then follows new code.
Napi::Value StartCodeMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  v8::Isolate* iso = v8::Isolate::GetCurrent();
  if (!iso || iso != g_isolate.load()) {
    o.Set("ok", false);
    o.Set("error", "startCodeMap must be called on the main thread");
    return o;
  }
  double t0 = NowMs();
  if (!g_code_on.load()) {
    {
      std::lock_guard<std::mutex> lock(g_code_mu);
      if (!g_code) g_code = new std::map<uintptr_t, CodeEntry>();
    }
    iso->SetJitCodeEventHandler(v8::kJitCodeEventEnumExisting, OnJitEvent);
    g_code_on.store(true);
  }
  std::lock_guard<std::mutex> lock(g_code_mu);
  o.Set("ok", true);
  o.Set("tookMs", NowMs() - t0);
  o.Set("entries", Napi::Number::New(env, (double)g_code->size()));
  return o;
}

Napi::Value StopCodeMap(const Napi::CallbackInfo& info) {
  v8::Isolate* iso = v8::Isolate::GetCurrent();
  if (iso && iso == g_isolate.load() && g_code_on.load()) {
    iso->SetJitCodeEventHandler(v8::kJitCodeEventDefault, nullptr);
    g_code_on.store(false);
    std::lock_guard<std::mutex> lock(g_code_mu);
    g_code->clear();
  }
  return info.Env().Undefined();
}

Napi::Value CodeMapStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("on", g_code_on.load());
  std::lock_guard<std::mutex> lock(g_code_mu);
  size_t bytes = 0;
  if (g_code)
    for (auto& kv : *g_code) bytes += sizeof(kv) + 48 + kv.second.name.capacity();
  o.Set("entries", Napi::Number::New(env, g_code ? (double)g_code->size() : 0));
  o.Set("events", Napi::Number::New(env, (double)g_code_events));
  o.Set("dropped", Napi::Number::New(env, (double)g_code_dropped));
  o.Set("approxBytes", Napi::Number::New(env, (double)bytes));
  return o;
}

bool InstallSampler(std::string* err) {
  if (g_sampler_installed) return true;
  g_sampler_sig = SIGRTMIN + 7;  // the core writer uses SIGRTMIN+6
  if (sem_init(&g_sem, 0, 0) != 0) { *err = "sem_init failed"; return false; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSampleSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  if (sigaction(g_sampler_sig, &sa, &g_sampler_old) != 0) { *err = std::string("sigaction: ") + strerror(errno); return false; }
  g_sampler_installed = true;
  return true;
}

// sampleMainThread({timeoutMs, attempts}): from a thread other than the main thread (the watchdog).
// Signals the main thread once per attempt; retries only when V8 returned no frames (a GC in progress).
Napi::Value SampleMainThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  double timeout_ms = 250;
  int attempts = 3;
  if (info[0].IsObject()) {
    Napi::Object a = info[0].As<Napi::Object>();
    if (a.Get("timeoutMs").IsNumber()) timeout_ms = a.Get("timeoutMs").As<Napi::Number>().DoubleValue();
    if (a.Get("attempts").IsNumber()) attempts = a.Get("attempts").As<Napi::Number>().Int32Value();
  }
  if (attempts < 1) attempts = 1;
  if (attempts > 10) attempts = 10;
  auto fail = [&](const std::string& why) {
    o.Set("ok", false);
    o.Set("error", why);
    return o;
  };
  if (!g_isolate.load()) return fail("the addon was not loaded on the main thread first");
  if (syscall(SYS_gettid) == getpid()) return fail("sampleMainThread must not be called on the main thread");
  std::unique_lock<std::mutex> one(g_sample_mu, std::try_to_lock);
  if (!one.owns_lock()) return fail("another capture is running");
  std::string err;
  if (!InstallSampler(&err)) return fail(err);
  double t0 = NowMs();
  int signals = 0;
  bool got = false, ran = false;
  for (int i = 0; i < attempts && !got; i++) {
    while (sem_trywait(&g_sem) == 0) {}
    g_req.store(kRequested);
    if (syscall(SYS_tgkill, getpid(), getpid(), g_sampler_sig) != 0) {
      g_req.store(kIdle);
      return fail(std::string("tgkill: ") + strerror(errno));
    }
    signals++;
    timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double per = timeout_ms / attempts;
    long ns = dl.tv_nsec + (long)(per * 1e6);
    dl.tv_sec += ns / 1000000000;
    dl.tv_nsec = ns % 1000000000;
    int r;
    while ((r = sem_timedwait(&g_sem, &dl)) != 0 && errno == EINTR) {}
    int expected = kRequested;
    if (r != 0 && g_req.compare_exchange_strong(expected, kIdle)) continue;  // gave up; a late handler does nothing
    while (g_req.load() == kWriting) {}  // the handler is finishing (it posts right after)
    g_req.store(kIdle);
    ran = true;
    got = g_sample.count > 0 || g_sample.vm_state != v8::GC;  // empty in a GC: ask again
  }
  double took = NowMs() - t0;
  o.Set("signals", signals);
  o.Set("tookMs", took);
  if (!ran)
    return fail("the main thread did not run the signal handler in time (uninterruptible sleep?)");
  o.Set("ok", true);
  o.Set("vmState", g_sample.vm_state);
  o.Set("hasJs", g_sample.has_js);
  o.Set("pc", Hex(g_sample.pc));
  o.Set("codeMap", g_code_on.load());
  Napi::Array frames = Napi::Array::New(env);
  static char name[1024];
  for (size_t i = 0; i < g_sample.count; i++) {
    Napi::Object f = Napi::Object::New(env);
    uintptr_t pc = (uintptr_t)g_sample.frames[i];
    f.Set("pc", Hex(pc));
    if (g_code_on.load() && CodeMapLookup(pc, name, sizeof name, false, nullptr)) f.Set("name", std::string(name));
    frames.Set((uint32_t)i, f);
  }
  o.Set("frames", frames);
  o.Set("resolveMs", NowMs() - t0 - took);
  return o;
}

Napi::Value ArmFatalJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  if (!info[0].IsObject() || !info[0].As<Napi::Object>().Get("path").IsString()) {
    Napi::TypeError::New(env, "armFatal({path, signals, note}): path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object a = info[0].As<Napi::Object>();
  FatalOptions opts;
  opts.path = a.Get("path").As<Napi::String>().Utf8Value();
  if (a.Get("note").IsString()) opts.note = a.Get("note").As<Napi::String>().Utf8Value();
  // AUTOPSY_FATAL_CORE=1: {core: {path, note, timeoutMs, minFree, minAvailable}}
  if (a.Get("core").IsObject()) {
    Napi::Object c = a.Get("core").As<Napi::Object>();
    auto num = [&](const char* k, double d) { Napi::Value v = c.Get(k); return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : d; };
    if (c.Get("path").IsString()) opts.core_path = c.Get("path").As<Napi::String>().Utf8Value();
    if (c.Get("note").IsString()) opts.core_note = c.Get("note").As<Napi::String>().Utf8Value();
    opts.core_timeout_ms = (int64_t)num("timeoutMs", 30000);
    opts.core_min_free = (uint64_t)num("minFree", 0);
    opts.core_min_available = (uint64_t)num("minAvailable", 0);
  }
  if (a.Get("signals").IsArray()) {
    Napi::Array s = a.Get("signals").As<Napi::Array>();
    for (uint32_t i = 0; i < s.Length(); i++)
      if (s.Get(i).IsNumber()) opts.signals.push_back(s.Get(i).As<Napi::Number>().Int32Value());
  }
  if (syscall(SYS_gettid) != getpid()) {
    o.Set("ok", false);
    o.Set("error", "armFatal must be called on the main thread (the alternate signal stack is per thread)");
    return o;
  }
  std::string err;
  std::vector<int> armed;
  bool ok = ArmFatal(opts, &armed, &err);
  o.Set("ok", ok);
  if (!err.empty()) o.Set("error", err);
  Napi::Array list = Napi::Array::New(env);
  for (size_t i = 0; i < armed.size(); i++) list.Set((uint32_t)i, armed[i]);
  o.Set("signals", list);
  return o;
}

Napi::Value DisarmFatalJs(const Napi::CallbackInfo& info) {
  DisarmFatal();
  return info.Env().Undefined();
}

}  // namespace

void SetMainIsolate(void* isolate) { g_isolate.store(isolate); }
void* MainIsolate() { return g_isolate.load(); }
bool CodeMapOn() { return g_code_on.load(); }

bool CodeMapLookup(uintptr_t pc, char* out, size_t cap, bool try_only, bool* busy) {
  if (busy) *busy = false;
  if (!g_code || cap == 0) return false;
  if (try_only) {
    // Another thread may be adding code (V8 compiles on background threads): wait for it, 50 ms at
    // most. If this thread itself holds the lock (a crash inside the event handler), give up.
    bool locked = false;
    for (int i = 0; i < 100 && !(locked = g_code_mu.try_lock()); i++) {
      timespec ts = {0, 500 * 1000};
      nanosleep(&ts, nullptr);
    }
    if (!locked) {
      if (busy) *busy = true;
      return false;
    }
    bool r = LookupLocked(pc, out, cap);
    g_code_mu.unlock();
    return r;
  }
  std::lock_guard<std::mutex> lock(g_code_mu);
  return LookupLocked(pc, out, cap);
}

void SampleFromContext(void* isolate, const ucontext_t* uc, JsSample* out) {
  out->count = 0;
  out->vm_state = -1;
  out->has_js = false;
  const greg_t* g = uc->uc_mcontext.gregs;
  out->pc = (uintptr_t)g[REG_RIP];
  out->sp = (uintptr_t)g[REG_RSP];
  out->fp = (uintptr_t)g[REG_RBP];
  if (!isolate) return;
  v8::RegisterState regs;
  regs.pc = (void*)out->pc;
  regs.sp = (void*)out->sp;
  regs.fp = (void*)out->fp;
  v8::SampleInfo si;
  memset(&si, 0, sizeof si);
  ((v8::Isolate*)isolate)->GetStackSample(regs, out->frames, kMaxJsFrames, &si);
  out->count = si.frames_count <= kMaxJsFrames ? si.frames_count : 0;
  out->vm_state = (int)si.vm_state;
  out->has_js = out->count > 0 || si.vm_state != v8::OTHER;
}

void RegisterJsStackExports(Napi::Env env, Napi::Object exports) {
  exports.Set("startCodeMap", Napi::Function::New(env, StartCodeMap, "startCodeMap"));
  exports.Set("stopCodeMap", Napi::Function::New(env, StopCodeMap, "stopCodeMap"));
  exports.Set("codeMapStats", Napi::Function::New(env, CodeMapStats, "codeMapStats"));
  exports.Set("sampleMainThread", Napi::Function::New(env, SampleMainThread, "sampleMainThread"));
  exports.Set("armFatal", Napi::Function::New(env, ArmFatalJs, "armFatal"));
  exports.Set("disarmFatal", Napi::Function::New(env, DisarmFatalJs, "disarmFatal"));
}

}  // namespace autopsy

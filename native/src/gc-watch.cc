// The flight recorder's GC source in C++: V8's GC prologue and epilogue callbacks count collections and
// their time, without a JS object per collection. The JS alternative, a PerformanceObserver for 'gc'
// (src/hook/recorder.ts, kept as the fallback), makes Node build a PerformanceEntry per collection and
// hand it to JS later. On a busy HTTP server those entries outlive a scavenge or two: measured on Node 20
// at ~25,000 requests/s, a scavenge kept 6.2 KB alive with the observer against 2.3 KB without, V8 grew
// the young generation twice as early (7 -> 13.5 MB), and the old space filled with promoted entries.
//
// What JS gets: drainGc() once a second (the sampler) for the counts, and a wake-up through an unref'd
// uv_async after a collection that matters: a major one, one that left the heap above the level the
// OOM watch asked for, or one long enough to be an event of its own.
//
// Main thread only, started once; stopped at the environment's teardown. The callbacks cost four clock
// reads per collection.
#include "gc-watch.h"
#include "loop-call.h"

#include <uv.h>
#include <v8.h>

#include <time.h>

#include <cstdint>
#include <new>

namespace autopsy {
namespace {

// perf_hooks.constants.NODE_PERFORMANCE_GC_*, which are V8's GCType bits: the recorder's kinds.
constexpr int kScavenge = 1;       // v8::kGCTypeScavenge
constexpr int kMinorMark = 2;      // v8::kGCTypeMinorMarkSweep (V8 13) / MinorMarkCompact (V8 11)
constexpr int kMarkSweep = 4;      // v8::kGCTypeMarkSweepCompact
constexpr int kIncremental = 8;    // v8::kGCTypeIncrementalMarking
constexpr int kWeakCallbacks = 16; // v8::kGCTypeProcessWeakCallbacks

// Events waiting for JS: at most this many between two drains; older ones are counted as dropped.
constexpr int kMaxEvents = 64;

struct GcEvent {
  double time_ms;  // wall clock at the start
  double duration_ms;
  int type;
  double heap_used;  // after the collection
};

struct Watch {
  napi_env env = nullptr;
  napi_ref on_wake = nullptr;
  uv_async_t async;
  bool on = false;
  double min_event_ms = 10;
  double wake_above = 0;  // bytes; 0: only major collections and events wake JS
  // Start of the collection in progress, per type bit (V8 nests an incremental step's callbacks in others).
  uint64_t start_ns[32] = {};
  double start_wall[32] = {};
  // Since the last drain.
  uint32_t count = 0;
  uint32_t major = 0;
  double ms = 0;
  GcEvent events[kMaxEvents];
  int event_count = 0;
  uint32_t dropped = 0;
  // For the wake-up: the latest reading, and whether a major collection came since the last wake.
  double last_used = 0;
  bool major_since_wake = false;
  bool wake_pending = false;
};

Watch g;

uint64_t MonoNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

double WallMs() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

int Bit(v8::GCType type) {
  unsigned t = (unsigned)type;
  for (int i = 0; i < 32; i++)
    if (t & (1u << i)) return i;
  return 0;
}

void Prologue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void*) {
  int b = Bit(type);
  g.start_ns[b] = MonoNs();
  g.start_wall[b] = WallMs();
}

void Epilogue(v8::Isolate* isolate, v8::GCType type, v8::GCCallbackFlags, void*) {
  int b = Bit(type);
  if (!g.start_ns[b]) return;
  double dur = (double)(MonoNs() - g.start_ns[b]) / 1e6;
  g.start_ns[b] = 0;
  g.count++;
  g.ms += dur;
  bool is_major = ((int)type & kMarkSweep) != 0;
  if (is_major) g.major++;
  bool wanted = is_major || dur >= g.min_event_ms;
  // The heap reading is needed only when somebody looks at it: a major collection, an event, or the OOM
  // watch's level (GetHeapStatistics walks the spaces: a few microseconds).
  double used = 0;
  if (wanted || g.wake_above > 0) {
    // Room for a later V8's larger HeapStatistics: the addon is built against one Node's headers and
    // loaded by newer ones (V8 11 and 13 have the same fields today).
    alignas(16) unsigned char room[sizeof(v8::HeapStatistics) * 2 + 256];
    v8::HeapStatistics* hs = new (room) v8::HeapStatistics();
    isolate->GetHeapStatistics(hs);
    used = (double)hs->used_heap_size();
    g.last_used = used;
  }
  if (wanted) {
    if (g.event_count < kMaxEvents) g.events[g.event_count++] = GcEvent{g.start_wall[b], dur, (int)type, used};
    else g.dropped++;
  }
  if (is_major) g.major_since_wake = true;
  bool wake = wanted || (g.wake_above > 0 && used >= g.wake_above);
  // uv_async_send is async-signal-safe and cheap (an eventfd write); one wake-up covers any number of
  // collections before the loop gets to it.
  if (wake && !g.wake_pending) {
    g.wake_pending = true;
    uv_async_send(&g.async);
  }
}

void OnWake(uv_async_t*) {
  g.wake_pending = false;
  const double args[2] = {g.last_used, g.major_since_wake ? 1.0 : 0.0};
  const bool as_bool[2] = {false, true};
  g.major_since_wake = false;
  CallFromLoop(g.env, g.on_wake, args, as_bool, 2);
}

const char* KindName(int type) {
  if (type & kMarkSweep) return "major";
  if (type & kScavenge) return "minor";
  if (type & kMinorMark) return "minor";  // V8's minor mark-sweep (off by default): a young-generation GC too
  if (type & kIncremental) return "incremental";
  if (type & kWeakCallbacks) return "weakcb";
  return "other";
}

// At the environment's teardown: no more callbacks into a loop that is going away.
void Cleanup(void*) {
  if (!g.on) return;
  g.on = false;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate) {
    isolate->RemoveGCPrologueCallback(Prologue, nullptr);
    isolate->RemoveGCEpilogueCallback(Epilogue, nullptr);
  }
  uv_close((uv_handle_t*)&g.async, nullptr);
}

// startGcWatch(onWake(heapUsed, major), minEventMs): true when watching. Main thread, once.
Napi::Value StartGcWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.on) return Napi::Boolean::New(env, false);
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "startGcWatch(onWake: (heapUsed, major) => void, minEventMs: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  uv_loop_t* loop = nullptr;
  if (!isolate || napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return Napi::Boolean::New(env, false);
  if (uv_async_init(loop, &g.async, OnWake) != 0) return Napi::Boolean::New(env, false);
  uv_unref((uv_handle_t*)&g.async);
  g.env = env;
  napi_create_reference(env, info[0], 1, &g.on_wake);
  double min = info[1].As<Napi::Number>().DoubleValue();
  g.min_event_ms = min > 0 ? min : 10;
  isolate->AddGCPrologueCallback(Prologue, nullptr);
  isolate->AddGCEpilogueCallback(Epilogue, nullptr);
  g.on = true;
  napi_add_env_cleanup_hook(env, Cleanup, nullptr);
  return Napi::Boolean::New(env, true);
}

// setGcWakeAbove(bytes): also wake JS after any collection that leaves the heap at or above this.
Napi::Value SetGcWakeAbove(const Napi::CallbackInfo& info) {
  if (info.Length() >= 1 && info[0].IsNumber()) {
    double v = info[0].As<Napi::Number>().DoubleValue();
    g.wake_above = v > 0 ? v : 0;
  }
  return info.Env().Undefined();
}

// drainGc(): {count, ms, major, dropped, events: [{time, kind, durationMs, heapUsed}]} since the last call.
// The counts are taken and zeroed before any JS value is made: making them allocates, an allocation can
// collect, and a collection counted after the copy must stay for the next drain.
Napi::Value DrainGc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count = g.count, major = g.major, dropped = g.dropped;
  double ms = g.ms;
  int n = g.event_count;
  GcEvent events[kMaxEvents];
  for (int i = 0; i < n; i++) events[i] = g.events[i];
  g.count = 0;
  g.major = 0;
  g.ms = 0;
  g.event_count = 0;
  g.dropped = 0;
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", (double)count);
  out.Set("ms", ms);
  out.Set("major", (double)major);
  out.Set("dropped", (double)dropped);
  Napi::Array list = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("time", events[i].time_ms);
    e.Set("kind", KindName(events[i].type));
    e.Set("durationMs", events[i].duration_ms);
    e.Set("heapUsed", events[i].heap_used);
    list.Set((uint32_t)i, e);
  }
  out.Set("events", list);
  return out;
}

// heapSizeLimit(): v8.getHeapStatistics().heap_size_limit, without loading the v8 module.
Napi::Value HeapSizeLimit(const Napi::CallbackInfo& info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (!isolate) return Napi::Number::New(info.Env(), 0);
  alignas(16) unsigned char room[sizeof(v8::HeapStatistics) * 2 + 256];
  v8::HeapStatistics* hs = new (room) v8::HeapStatistics();
  isolate->GetHeapStatistics(hs);
  return Napi::Number::New(info.Env(), (double)hs->heap_size_limit());
}

}  // namespace

void RegisterGcWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("startGcWatch", Napi::Function::New(env, StartGcWatch, "startGcWatch"));
  exports.Set("setGcWakeAbove", Napi::Function::New(env, SetGcWakeAbove, "setGcWakeAbove"));
  exports.Set("drainGc", Napi::Function::New(env, DrainGc, "drainGc"));
  exports.Set("heapSizeLimit", Napi::Function::New(env, HeapSizeLimit, "heapSizeLimit"));
}

}  // namespace autopsy

// The hang watchdog's heartbeat as a libuv timer in C++: what src/hook/hang.ts's beat() does in JS,
// without entering JS. Each beat stores the loop's uptime into the watchdog's shared Int32Array (BEAT),
// notes how late it came (the event loop's delay, for the flight recorder), and when the gap since the
// previous beat exceeds the hang threshold, calls back into JS once to record the end of the block.
// Measured on 2 cores (Node 20): an idle process beating every 40 ms used 4.1 ms of CPU per second with
// a JS setInterval and 1.9 ms with a C++ timer; the wake-ups themselves are what remains.
//
// Main thread only, started once. The timer is unref'd, so it never keeps the process alive.
#include "heartbeat.h"
#include "loop-call.h"

#include <uv.h>

#include <cmath>
#include <cstdint>

namespace autopsy {
namespace {

// Slot of the shared Int32Array, as in src/hook/hang.ts (SLOT.BEAT).
constexpr int kBeat = 0;
// Beat delays are kept like the JS beat's: at most this many between two drains (the sampler drains
// them every second; about 25 beats come in that time).
constexpr int kMaxDelays = 4096;

struct Beat {
  napi_env env = nullptr;
  napi_ref array_ref = nullptr;
  napi_ref on_freed = nullptr;
  int32_t* slots = nullptr;
  uint64_t hr0 = 0;     // uv_hrtime() when started
  double uptime0 = 0;   // process.uptime() in ms at hr0 (the same clock: uv_hrtime)
  uint64_t interval_ns = 0;
  uint64_t threshold_ns = 0;
  uint64_t last = 0;    // uv_hrtime() of the last beat
  float delays[kMaxDelays];
  int delay_count = 0;
  uv_timer_t timer;
  bool on = false;
};

Beat g;

double UptimeMs(uint64_t hr) { return g.uptime0 + (double)(hr - g.hr0) / 1e6; }

// As beatValue() in src/hook/hang-detector.ts: int32 ms, mod 2^32.
int32_t BeatValue(double uptime_ms) { return (int32_t)(uint32_t)(uint64_t)std::floor(uptime_ms); }

// Read by the watchdog worker with Atomics.load.
void StoreBeat(uint64_t hr) { __atomic_store_n(&g.slots[kBeat], BeatValue(UptimeMs(hr)), __ATOMIC_SEQ_CST); }

void CallFreed(double gap_ms) { CallFromLoop(g.env, g.on_freed, &gap_ms, nullptr, 1); }

void OnBeat(uv_timer_t*) {
  uint64_t now = uv_hrtime();
  uint64_t gap = now - g.last;
  g.last = now;
  StoreBeat(now);
  if (g.delay_count < kMaxDelays) g.delays[g.delay_count++] = gap > g.interval_ns ? (float)((double)(gap - g.interval_ns) / 1e6) : 0.0f;
  if (g.threshold_ns && gap > g.threshold_ns) CallFreed((double)gap / 1e6);
}

// startBeat(slots: Int32Array, intervalMs, thresholdMs, uptimeMs, onFreed(gapMs)): true when beating.
Napi::Value StartBeat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.on) return Napi::Boolean::New(env, false);
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsFunction()) {
    Napi::TypeError::New(env, "startBeat(slots: Int32Array, intervalMs, thresholdMs, uptimeMs, onFreed)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
  double interval_ms = info[1].As<Napi::Number>().DoubleValue();
  if (arr.TypedArrayType() != napi_int32_array || arr.ElementLength() < 1 || !(interval_ms >= 1)) {
    Napi::TypeError::New(env, "startBeat: slots must be an Int32Array, intervalMs >= 1").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return Napi::Boolean::New(env, false);
  if (napi_get_typedarray_info(env, arr, &type, &length, &data, &buffer, &offset) != napi_ok || !data) return Napi::Boolean::New(env, false);
  if (uv_timer_init(loop, &g.timer) != 0) return Napi::Boolean::New(env, false);
  g.env = env;
  g.slots = (int32_t*)data;
  // The array, and so its shared memory, lives as long as the timer: for good.
  napi_create_reference(env, arr, 1, &g.array_ref);
  napi_create_reference(env, info[4], 1, &g.on_freed);
  g.interval_ns = (uint64_t)(interval_ms * 1e6);
  g.threshold_ns = (uint64_t)(info[2].As<Napi::Number>().DoubleValue() * 1e6);
  g.hr0 = uv_hrtime();
  g.uptime0 = info[3].As<Napi::Number>().DoubleValue();
  g.last = g.hr0;
  StoreBeat(g.hr0);
  uint64_t every = (uint64_t)interval_ms;
  uv_timer_start(&g.timer, OnBeat, every, every);
  uv_unref((uv_handle_t*)&g.timer);
  g.on = true;
  return Napi::Boolean::New(env, true);
}

// restBeat(): the hook blocked the loop on purpose (quiet() in hang.ts); the gap up to now is no hang.
Napi::Value RestBeat(const Napi::CallbackInfo& info) {
  if (g.on) {
    g.last = uv_hrtime();
    StoreBeat(g.last);
  }
  return info.Env().Undefined();
}

// drainBeatDelays(): the beats' delays (ms) since the last call.
Napi::Value DrainBeatDelays(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, g.delay_count);
  for (int i = 0; i < g.delay_count; i++) out.Set((uint32_t)i, Napi::Number::New(env, g.delays[i]));
  g.delay_count = 0;
  return out;
}

// loopIdleNs(): the time the loop has spent idle in its poll, in ns (uv_metrics_idle_time; Node turns
// the metric on for every loop, it is what performance.eventLoopUtilization() reads), or -1.
Napi::Value LoopIdleNs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return Napi::Number::New(env, -1);
  return Napi::Number::New(env, (double)uv_metrics_idle_time(loop));
}

}  // namespace

void RegisterHeartbeat(Napi::Env env, Napi::Object exports) {
  exports.Set("startBeat", Napi::Function::New(env, StartBeat, "startBeat"));
  exports.Set("restBeat", Napi::Function::New(env, RestBeat, "restBeat"));
  exports.Set("drainBeatDelays", Napi::Function::New(env, DrainBeatDelays, "drainBeatDelays"));
  exports.Set("loopIdleNs", Napi::Function::New(env, LoopIdleNs, "loopIdleNs"));
}

}  // namespace autopsy

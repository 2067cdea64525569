#pragma once
#include <napi.h>

namespace autopsy {
// heartbeat.cc: startBeat(slots, intervalMs, thresholdMs, uptimeMs, onFreed), restBeat(),
// drainBeatDelays(); main thread only.
void RegisterHeartbeat(Napi::Env env, Napi::Object exports);
}

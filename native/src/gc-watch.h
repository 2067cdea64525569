#pragma once
#include <napi.h>

namespace autopsy {
// gc-watch.cc: startGcWatch(onWake, minEventMs), setGcWakeAbove(bytes), drainGc(); main thread only.
void RegisterGcWatch(Napi::Env env, Napi::Object exports);
}

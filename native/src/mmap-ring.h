// mapRing(path, bytes): a file mapped MAP_SHARED, as a Buffer. What JS writes into it is in the page
// cache at once, so it survives SIGKILL and fatal errors: the flight recorder's loss window is zero.
// releaseRing(buffer): its pages leave the process's RSS; they stay in the page cache.
#pragma once
#include <napi.h>

namespace autopsy {
void RegisterMapRing(Napi::Env env, Napi::Object exports);
}

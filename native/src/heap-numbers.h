#pragma once
#include <node_api.h>

namespace autopsy {
// Adds scanHeapRecords (the heap snapshot parser's record scanner) to the addon's exports.
void RegisterHeapRecords(napi_env env, napi_value exports);
}  // namespace autopsy

#pragma once
#include <node_api.h>

namespace autopsy {
// Adds scanHeapRecords (the heap snapshot parser's record scanner) and releasePages (the heap
// analyser's scratch pool gives dead arrays' pages back) to the addon's exports.
void RegisterHeapRecords(napi_env env, napi_value exports);
}  // namespace autopsy

#pragma once
// Calling a JS function from a libuv callback on the main thread (heartbeat.cc, gc-watch.cc).
#include <node_api.h>

#include <cstddef>

namespace autopsy {

// Calls the function `ref` holds, the way a libuv callback enters JS: napi_make_callback, so that
// microtasks queued there run too. Each of `args` goes to JS as a number, or as a boolean where
// `as_bool` (may be null) says so. The hook's functions are guarded in JS; whatever exception is still pending is
// cleared, never thrown into the loop.
inline void CallFromLoop(napi_env env, napi_ref ref, const double* args, const bool* as_bool, size_t argc) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  napi_value argv[4];
  bool ok = argc <= 4 && napi_get_reference_value(env, ref, &fn) == napi_ok && fn && napi_get_global(env, &recv) == napi_ok;
  for (size_t i = 0; ok && i < argc; i++)
    ok = (as_bool && as_bool[i] ? napi_get_boolean(env, args[i] != 0, &argv[i]) : napi_create_double(env, args[i], &argv[i])) == napi_ok;
  if (ok && napi_make_callback(env, nullptr, recv, fn, argc, argv, &result) != napi_ok) {
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  }
  napi_close_handle_scope(env, scope);
}

}  // namespace autopsy

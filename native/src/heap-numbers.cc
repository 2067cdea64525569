// scanHeapNumbers(buf, start, afterNumber, out, io): the heap snapshot parser's number loop in C++
// (src/heap/parser.ts). It reads the plain part of a `nodes`/`edges` array, `123,45\n,6`, from
// buf[start] into `out` (a Float64Array), and stops before anything else: ']', a '-', a bad byte,
// a number that may go on in the next chunk, or a full `out`. It returns how many numbers it read
// and sets io[0] to the byte after the last one (start when none). The JavaScript state machine
// handles where it stopped, so every error and every chunk boundary goes through the same code
// with or without the addon. The values are those of JavaScript's `v = v * 10 + digit` in doubles:
// exact below 2^53, and the same rounding above.
#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace {

inline bool IsSpace(uint8_t c) { return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09; }
inline bool IsDigit(uint8_t c) { return (uint8_t)(c - 0x30) < 10; }

size_t Scan(const uint8_t* buf, size_t len, size_t p, bool after, double* out, size_t cap, size_t* end) {
  size_t n = 0;
  size_t commit = p;
  while (n < cap) {
    if (after) {
      while (p < len && IsSpace(buf[p])) p++;
      if (p >= len || buf[p] != 0x2c) break;
      p++;
    }
    while (p < len && IsSpace(buf[p])) p++;
    if (p >= len || !IsDigit(buf[p])) break;
    size_t q = p;
    uint64_t v = 0;
    while (q < len && IsDigit(buf[q])) v = v * 10 + (buf[q++] - 0x30);
    if (q >= len) break;  // the number may go on in the next chunk
    if (q - p <= 15) {
      out[n++] = (double)v;  // below 10^15 < 2^53: exact, as in JavaScript
    } else {
      double d = 0;  // JavaScript's rounding, step by step
      for (size_t k = p; k < q; k++) d = d * 10 + (buf[k] - 0x30);
      out[n++] = d;
    }
    p = commit = q;
    after = true;
  }
  *end = commit;
  return n;
}

napi_value ScanHeapNumbers(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 5) {
    napi_throw_type_error(env, nullptr, "scanHeapNumbers(buf, start, afterNumber, out, io)");
    return nullptr;
  }
  napi_typedarray_type t;
  size_t len, outLen, ioLen;
  void* data;
  void* outData;
  void* ioData;
  double start;
  bool after;
  if (napi_get_typedarray_info(env, argv[0], &t, &len, &data, nullptr, nullptr) != napi_ok || t != napi_uint8_array ||
      napi_get_value_double(env, argv[1], &start) != napi_ok || napi_get_value_bool(env, argv[2], &after) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &t, &outLen, &outData, nullptr, nullptr) != napi_ok || t != napi_float64_array ||
      napi_get_typedarray_info(env, argv[4], &t, &ioLen, &ioData, nullptr, nullptr) != napi_ok || t != napi_float64_array ||
      ioLen < 1 || !(start >= 0 && start <= (double)len)) {
    napi_throw_type_error(env, nullptr, "scanHeapNumbers(buf: Uint8Array, start, afterNumber: boolean, out: Float64Array, io: Float64Array)");
    return nullptr;
  }
  size_t end;
  size_t n = Scan(static_cast<const uint8_t*>(data), len, (size_t)start, after, static_cast<double*>(outData), outLen, &end);
  static_cast<double*>(ioData)[0] = (double)end;
  napi_value result;
  napi_create_uint32(env, (uint32_t)n, &result);
  return result;
}

// Registration. addon.cc's Init is not ours to edit, so this file registers a module of its own
// while the library loads: Node then calls HeapInit instead of the napi_register_module_v1 that
// addon.cc's NODE_API_MODULE defines, and HeapInit calls that first. Node uses such a registration
// for the first load of the library in a process; a later load (another worker thread) calls
// napi_register_module_v1 directly, and there scanHeapNumbers is absent: the parser then uses its
// JavaScript loop. A line in addon.cc's Init calling RegisterHeapNumbers would replace all this.

}  // namespace

extern "C" napi_value napi_register_module_v1(napi_env env, napi_value exports);  // addon.cc

namespace autopsy {
void RegisterHeapNumbers(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "scanHeapNumbers", NAPI_AUTO_LENGTH, ScanHeapNumbers, nullptr, &fn) == napi_ok) {
    napi_set_named_property(env, exports, "scanHeapNumbers", fn);
  }
}
}  // namespace autopsy

namespace {

napi_value HeapInit(napi_env env, napi_value exports) {
  napi_value out = napi_register_module_v1(env, exports);
  if (out != nullptr) autopsy::RegisterHeapNumbers(env, out);
  return out;
}

napi_module heap_module = {NAPI_MODULE_VERSION, 0, __FILE__, HeapInit, "autopsy_native", nullptr, {nullptr}};

__attribute__((constructor)) void RegisterOnLoad() { napi_module_register(&heap_module); }

}  // namespace

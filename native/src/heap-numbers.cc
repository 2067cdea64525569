// The heap snapshot parser's number loop in C++ (src/heap/parser.ts, numbers()): scanHeapRecords
// reads the plain part of a `nodes` or `edges` array, `1,2,3\n,4,5,6`, one whole record at a time,
// straight into the parser's typed arrays, with the checks of the parser's JavaScript loop. It stops
// before anything else (']', a '-', a bad byte, a record that goes on in the next chunk, a value
// that breaks a rule or is over 2^32 - 1), and the JavaScript loop reads from there: every error,
// every chunk boundary and every rare case goes through the same code with or without the addon.
#include "heap-numbers.h"
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace {

inline bool IsSpace(uint8_t c) { return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09; }
inline bool IsDigit(uint8_t c) { return (uint8_t)(c - 0x30) < 10; }

// scanHeapRecords(buf, start, afterNumber, section, arrays, params, io): whole nodes (section 0) or
// edges (1), parsed and stored in one pass, with numbersJs's checks. It starts at a record's first
// number and commits only after a whole record that passes them, so it stops before a record that
// goes on in the next chunk, breaks a rule, or needs what only the JavaScript loop does (a value
// over 2^32 - 1: the error, or the widening of ids and self sizes to doubles).
//   nodes: arrays [nodeType u8, nodeName u32, nodeId u32, nodeSelfSize u32, firstEdge u32,
//          detachedness u8 (nodeType when absent)], params [node_fields, pos of type, name, id,
//          self_size, edge_count, detachedness (-1: none), node count, edge count, node types],
//          io [end, nodes done, edge sum, largest name] (in and out);
//   edges: arrays [edgeType u8, edgeName u32, edgeTo u32], params [edge_fields, pos of type,
//          name_or_index, to_node, edge count, node_fields, node count, edge types], io [end, edges done];
//   locations (2): arrays [locations u32], params [location_fields, node_fields, node count, then per
//          field its slot in an entry], io [end, numbers written].
// Returns the records read, or -1 when the arrays are not of those types (a widened nodeId).
constexpr int kMaxFields = 64;

struct Arrays {
  void* data[6];
  napi_typedarray_type type[6];
  size_t length[6];
};

bool GetArrays(napi_env env, napi_value list, uint32_t n, Arrays* a) {
  for (uint32_t k = 0; k < n; k++) {
    napi_value v;
    if (napi_get_element(env, list, k, &v) != napi_ok) return false;
    if (napi_get_typedarray_info(env, v, &a->type[k], &a->length[k], &a->data[k], nullptr, nullptr) != napi_ok) return false;
  }
  return true;
}

// Reads one record's numbers from buf[*pp] into v; false (and *pp unchanged) when it cannot.
inline bool ReadRecord(const uint8_t* buf, size_t len, size_t* pp, bool after, uint32_t width, uint64_t* v) {
  size_t p = *pp;
  for (uint32_t f = 0; f < width; f++) {
    if (after || f > 0) {
      while (p < len && IsSpace(buf[p])) p++;
      if (p >= len || buf[p] != 0x2c) return false;
      p++;
    }
    while (p < len && IsSpace(buf[p])) p++;
    size_t q = p;
    uint64_t x = 0;
    while (q < len && IsDigit(buf[q])) x = x * 10 + (buf[q++] - 0x30);
    // No digits, maybe more in the next chunk, or more than 10 digits (over 2^32 - 1 or about).
    if (q == p || q >= len || q - p > 10) return false;
    v[f] = x;
    p = q;
  }
  *pp = p;
  return true;
}

// ReadRecord for the common layout, `1,2,3\n,4`: at most a newline before each comma, no space
// after it. Without bounds checks, so only where the record cannot reach the end (see Fits). Reads
// the same values as ReadRecord or returns false, and the caller then asks ReadRecord.
inline bool ReadRecordFast(const uint8_t* buf, size_t* pp, bool after, uint32_t width, uint64_t* v) {
  size_t p = *pp;
  for (uint32_t f = 0; f < width; f++) {
    if (after || f > 0) {
      if (buf[p] == 0x0a) p++;
      if (buf[p] != 0x2c) return false;
      p++;
    }
    uint32_t d = (uint32_t)buf[p] - 0x30;
    if (d >= 10) return false;
    uint64_t x = d;
    size_t q = p + 1;
    while ((d = (uint32_t)buf[q] - 0x30) < 10) {
      x = x * 10 + d;
      // More than 10 digits: ReadRecord says no too.
      if (++q - p > 10) return false;
    }
    v[f] = x;
    p = q;
  }
  *pp = p;
  return true;
}

// Whether a record of `width` fields read fast from p stays inside the buffer with one byte to
// spare (ReadRecord wants the byte after the last digit in this chunk): per field a newline, a
// comma, 10 digits and the byte after them.
inline bool Fits(size_t p, size_t len, uint32_t width) { return p + 13 * (size_t)width + 1 < len; }

inline bool Read(const uint8_t* buf, size_t len, size_t* pp, bool after, uint32_t width, uint64_t* v) {
  if (Fits(*pp, len, width) && ReadRecordFast(buf, pp, after, width, v)) return true;
  return ReadRecord(buf, len, pp, after, width, v);
}

napi_value ScanHeapRecords(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_value result;
  auto fail = [&]() -> napi_value {
    napi_throw_type_error(env, nullptr, "scanHeapRecords(buf, start, afterNumber, section, arrays, params, io)");
    return nullptr;
  };
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 7) return fail();
  napi_typedarray_type t;
  size_t len, paramLen, ioLen;
  void* data;
  void* paramData;
  void* ioData;
  double start;
  bool after;
  uint32_t section;
  if (napi_get_typedarray_info(env, argv[0], &t, &len, &data, nullptr, nullptr) != napi_ok || t != napi_uint8_array ||
      napi_get_value_double(env, argv[1], &start) != napi_ok || napi_get_value_bool(env, argv[2], &after) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &section) != napi_ok || section > 2 ||
      napi_get_typedarray_info(env, argv[5], &t, &paramLen, &paramData, nullptr, nullptr) != napi_ok || t != napi_float64_array ||
      napi_get_typedarray_info(env, argv[6], &t, &ioLen, &ioData, nullptr, nullptr) != napi_ok || t != napi_float64_array ||
      !(start >= 0 && start <= (double)len)) {
    return fail();
  }
  const double* prm = static_cast<const double*>(paramData);
  double* io = static_cast<double*>(ioData);
  const uint32_t nArrays = section == 0 ? 6 : section == 1 ? 3 : 1;
  if (paramLen < (section == 0 ? 10u : section == 1 ? 8u : 3u) || ioLen < (section == 0 ? 4u : 2u)) return fail();
  Arrays a;
  if (!GetArrays(env, argv[4], nArrays, &a)) return fail();
  const napi_typedarray_type want[6] = {napi_uint8_array, napi_uint32_array, napi_uint32_array, napi_uint32_array, napi_uint32_array, napi_uint8_array};
  for (uint32_t k = 0; k < nArrays; k++) {
    napi_typedarray_type w = section == 0 ? want[k] : section == 2 ? napi_uint32_array : (k == 0 ? napi_uint8_array : napi_uint32_array);
    if (a.type[k] != w) {
      napi_create_int32(env, -1, &result);
      return result;
    }
  }
  const uint8_t* buf = static_cast<const uint8_t*>(data);
  const uint32_t width = (uint32_t)prm[0];
  if (width == 0 || width > kMaxFields) return fail();
  if (section != 2) {
    for (uint32_t k = 1; k < (section == 0 ? 7u : 4u); k++) {
      if (!(prm[k] >= -1 && prm[k] < width)) return fail();
    }
  } else if (paramLen < 3u + width) {
    return fail();
  }
  uint64_t v[kMaxFields];
  size_t p = (size_t)start;
  uint32_t records = 0;
  if (section == 0) {
    uint8_t* type = static_cast<uint8_t*>(a.data[0]);
    uint32_t* name = static_cast<uint32_t*>(a.data[1]);
    uint32_t* id = static_cast<uint32_t*>(a.data[2]);
    uint32_t* size = static_cast<uint32_t*>(a.data[3]);
    uint32_t* firstEdge = static_cast<uint32_t*>(a.data[4]);
    uint8_t* detached = static_cast<uint8_t*>(a.data[5]);
    const int pType = (int)prm[1], pName = (int)prm[2], pId = (int)prm[3], pSize = (int)prm[4], pCount = (int)prm[5], pDet = (int)prm[6];
    if (pType < 0 || pName < 0 || pId < 0 || pSize < 0 || pCount < 0) return fail();
    const uint64_t nodeCount = (uint64_t)prm[7], edgeCount = (uint64_t)prm[8], nodeTypes = (uint64_t)prm[9];
    uint64_t r = (uint64_t)io[1], sum = (uint64_t)io[2], maxName = (uint64_t)io[3];
    if (a.length[0] < nodeCount || a.length[1] < nodeCount || a.length[2] < nodeCount || a.length[3] < nodeCount ||
        a.length[4] < nodeCount + 1 || (pDet >= 0 && a.length[5] < nodeCount)) {
      return fail();
    }
    while (r < nodeCount) {
      size_t q = p;
      if (!Read(buf, len, &q, after, width, v)) break;
      const uint64_t t = v[pType], nm = v[pName], i = v[pId], s = v[pSize], c = v[pCount];
      if (t >= nodeTypes || nm > 0xffffffffu || i > 0xffffffffu || s > 0xffffffffu || sum + c > edgeCount) break;
      type[r] = (uint8_t)t;
      name[r] = (uint32_t)nm;
      id[r] = (uint32_t)i;
      size[r] = (uint32_t)s;
      sum += c;
      firstEdge[r + 1] = (uint32_t)sum;
      if (nm > maxName) maxName = nm;
      // Zero (unknown, every JS object's) is left unwritten, as in JavaScript: the parser's array
      // starts zeroed, and an all-zero one is never touched.
      if (pDet >= 0 && v[pDet] != 0) detached[r] = v[pDet] > 255 ? 255 : (uint8_t)v[pDet];
      r++;
      records++;
      p = q;
      after = true;
    }
    io[1] = (double)r;
    io[2] = (double)sum;
    io[3] = (double)maxName;
  } else if (section == 2) {
    // The locations: per record, field f goes to slot prm[3 + f] of a 4-number entry (0: the node
    // offset, stored as an ordinal; -1: not kept). It stops when the array is full (the JavaScript
    // loop grows it) and before a '-' (V8's -1 for an unknown position), which JavaScript reads.
    uint32_t* out = static_cast<uint32_t*>(a.data[0]);
    const uint64_t cap = a.length[0];
    const uint64_t nf = (uint64_t)prm[1], nodeCount = (uint64_t)prm[2];
    int slot[kMaxFields];
    for (uint32_t f = 0; f < width; f++) {
      if (!(prm[3 + f] >= -1 && prm[3 + f] <= 3)) return fail();
      slot[f] = (int)prm[3 + f];
    }
    if (nf == 0) return fail();
    uint64_t n = (uint64_t)io[1];
    while (n + 4 <= cap) {
      size_t q = p;
      if (!Read(buf, len, &q, after, width, v)) break;
      bool ok = true;
      for (uint32_t f = 0; f < width && ok; f++) {
        if (slot[f] == 0) ok = v[f] / nf < nodeCount && v[f] % nf == 0;
        else if (slot[f] > 0) ok = v[f] <= 0xffffffffu;
      }
      if (!ok) break;
      for (uint32_t f = 0; f < width; f++) {
        if (slot[f] == 0) out[n] = (uint32_t)(v[f] / nf);
        else if (slot[f] > 0) out[n + slot[f]] = (uint32_t)v[f];
      }
      n += 4;
      records++;
      p = q;
      after = true;
    }
    io[1] = (double)n;
  } else {
    uint8_t* type = static_cast<uint8_t*>(a.data[0]);
    uint32_t* name = static_cast<uint32_t*>(a.data[1]);
    uint32_t* to = static_cast<uint32_t*>(a.data[2]);
    const int pType = (int)prm[1], pName = (int)prm[2], pTo = (int)prm[3];
    if (pType < 0 || pName < 0 || pTo < 0) return fail();
    const uint64_t edgeCount = (uint64_t)prm[4], nf = (uint64_t)prm[5], nodeCount = (uint64_t)prm[6], edgeTypes = (uint64_t)prm[7];
    if (nf == 0 || a.length[0] < edgeCount || a.length[1] < edgeCount || a.length[2] < edgeCount) return fail();
    uint64_t r = (uint64_t)io[1];
    // to_node / node_fields by a multiplication: a 64-bit division costs tens of cycles per edge.
    // For a multiple k * nf (at most 10 digits, so exact in a double) the product rounds to k; anything else
    // fails the check below and is left to the JavaScript loop, which reports it.
    const double invNf = 1.0 / (double)nf;
    while (r < edgeCount) {
      size_t q = p;
      if (!Read(buf, len, &q, after, width, v)) break;
      const uint64_t t = v[pType], nm = v[pName], off = v[pTo];
      const uint64_t node = (uint64_t)((double)off * invNf + 0.5);
      if (t >= edgeTypes || nm > 0xffffffffu || node >= nodeCount || node * nf != off) break;
      type[r] = (uint8_t)t;
      name[r] = (uint32_t)nm;
      to[r] = (uint32_t)node;
      r++;
      records++;
      p = q;
      after = true;
    }
    io[1] = (double)r;
  }
  io[0] = (double)p;
  napi_create_uint32(env, records, &result);
  return result;
}

// Registered by addon.cc's Init (RegisterHeapRecords), so that every load of the addon has it, in
// worker threads too.

// releasePages(view): gives the whole pages inside a typed array's bytes back to the system
// (madvise MADV_DONTNEED), so that they stop counting in the RSS; they read as zeros when touched
// again. The heap analyser's scratch pool (src/heap/scratch.ts) calls it on arrays it is told are
// dead: a freed ArrayBuffer's memory returns only after a GC, and none runs between its phases.
// Partial pages at either end are left alone (they may belong to live data). Returns the bytes.
napi_value ReleasePages(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double released = 0;
  napi_typedarray_type t;
  size_t len = 0;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= 1 &&
      napi_get_typedarray_info(env, argv[0], &t, &len, &data, nullptr, nullptr) == napi_ok && data != nullptr) {
    size_t elem = 1;
    switch (t) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
#if defined(__linux__) || defined(__APPLE__)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t start = ((uintptr_t)data + page - 1) & ~(page - 1);
    const uintptr_t end = ((uintptr_t)data + len * elem) & ~(page - 1);
    if (end > start && madvise((void*)start, end - start, MADV_DONTNEED) == 0) released = (double)(end - start);
#endif
  }
  napi_value out;
  napi_create_double(env, released, &out);
  return out;
}

}  // namespace

namespace autopsy {
void RegisterHeapRecords(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "scanHeapRecords", NAPI_AUTO_LENGTH, ScanHeapRecords, nullptr, &fn) == napi_ok) {
    napi_set_named_property(env, exports, "scanHeapRecords", fn);
  }
  if (napi_create_function(env, "releasePages", NAPI_AUTO_LENGTH, ReleasePages, nullptr, &fn) == napi_ok) {
    napi_set_named_property(env, exports, "releasePages", fn);
  }
}
}  // namespace autopsy

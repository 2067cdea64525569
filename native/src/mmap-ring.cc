#include "mmap-ring.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace autopsy {
namespace {

constexpr double kMaxRingBytes = 64.0 * 1024 * 1024;

// The mappings MapRing made and that are still mapped: releaseRing acts on these only. On any other
// memory, MADV_DONTNEED would throw data away (private pages come back as zeros).
std::mutex g_rings_mutex;
std::set<std::pair<uintptr_t, size_t>> g_rings;

Napi::Value MapRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "mapRing(path, bytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  double want = info[1].As<Napi::Number>().DoubleValue();
  if (!(want >= 4096 && want <= kMaxRingBytes)) {
    Napi::RangeError::New(env, "mapRing: bytes must be between 4 KiB and 64 MiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t bytes = (size_t)want;
  // O_EXCL: never map a file someone else put there (a symlink planted in a shared folder).
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    Napi::Error::New(env, std::string("mapRing: open: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // posix_fallocate, not ftruncate: the blocks exist now, so a full disk is an error here, not a
  // SIGBUS later when a page of the mapping is first written.
  int err = posix_fallocate(fd, 0, (off_t)bytes);
  if (err != 0) {
    close(fd);
    unlink(path.c_str());
    Napi::Error::New(env, std::string("mapRing: allocate: ") + strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int mmap_errno = errno;
  close(fd);
  if (p == MAP_FAILED) {
    unlink(path.c_str());
    Napi::Error::New(env, std::string("mapRing: mmap: ") + strerror(mmap_errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  {
    std::lock_guard<std::mutex> lock(g_rings_mutex);
    g_rings.insert({reinterpret_cast<uintptr_t>(p), bytes});
  }
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), bytes, [bytes](Napi::Env, uint8_t* data) {
    {
      std::lock_guard<std::mutex> lock(g_rings_mutex);
      g_rings.erase({reinterpret_cast<uintptr_t>(data), bytes});
    }
    munmap(data, bytes);
  });
}

// releaseRing(buffer): drops the mapping's pages from this process's page tables (MADV_DONTNEED). For a
// MAP_SHARED file mapping nothing is lost: written pages stay in the page cache, dirty, and are written
// back as any file's; the next write faults its page back in. The ring then costs the process's RSS a
// page or two instead of up to its whole size.
Napi::Value ReleaseRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "releaseRing(buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
  // Only a whole mapping that mapRing made: anything else is refused, not released.
  {
    std::lock_guard<std::mutex> lock(g_rings_mutex);
    if (!g_rings.count({reinterpret_cast<uintptr_t>(buf.Data()), buf.Length()})) return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, madvise(buf.Data(), buf.Length(), MADV_DONTNEED) == 0);
}

}  // namespace

void RegisterMapRing(Napi::Env env, Napi::Object exports) {
  exports.Set("mapRing", Napi::Function::New(env, MapRing, "mapRing"));
  exports.Set("releaseRing", Napi::Function::New(env, ReleaseRing, "releaseRing"));
}

}  // namespace autopsy

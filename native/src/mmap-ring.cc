#include "mmap-ring.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace autopsy {
namespace {

constexpr double kMaxRingBytes = 64.0 * 1024 * 1024;

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
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), bytes, [bytes](Napi::Env, uint8_t* data) { munmap(data, bytes); });
}

}  // namespace

void RegisterMapRing(Napi::Env env, Napi::Object exports) {
  exports.Set("mapRing", Napi::Function::New(env, MapRing, "mapRing"));
}

}  // namespace autopsy

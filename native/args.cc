#include "args.h"

#include <arpa/inet.h>
#include <linux/filter.h>

#include <cmath>

#include "errors.h"

namespace wp {
namespace {

bool Absent(Napi::Value v) { return v.IsUndefined() || v.IsNull(); }

}  // namespace

bool ReadOptionalString(Napi::Env env, Napi::Value v, const char* what, std::optional<std::string>* out) {
  out->reset();
  if (Absent(v)) return true;
  if (!v.IsString()) {
    ThrowTypeError(env, std::string(what) + " must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool ReadOptionalInt(Napi::Env env, Napi::Value v, const char* what, int64_t min, int64_t max,
                     std::optional<int64_t>* out) {
  out->reset();
  if (Absent(v)) return true;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    ThrowTypeError(env, std::string(what) + " must be an integer between " + std::to_string(min) +
                            " and " + std::to_string(max));
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ReadRequiredInt(Napi::Env env, Napi::Value v, const char* what, int64_t min, int64_t max,
                     int64_t* out) {
  if (Absent(v)) {
    ThrowTypeError(env, std::string(what) + " is required");
    return false;
  }
  std::optional<int64_t> value;
  if (!ReadOptionalInt(env, v, what, min, max, &value)) return false;
  *out = *value;
  return true;
}

bool ReadOptionalBool(Napi::Env env, Napi::Value v, const char* what, std::optional<bool>* out) {
  out->reset();
  if (Absent(v)) return true;
  if (!v.IsBoolean()) {
    ThrowTypeError(env, std::string(what) + " must be a boolean");
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool ReadNetns(Napi::Env env, Napi::Value v, const char* what, std::string* out) {
  std::optional<std::string> s;
  if (!ReadOptionalString(env, v, what, &s)) return false;
  if (s && s->empty()) {
    ThrowTypeError(env, std::string(what) + " must be a non-empty path");
    return false;
  }
  *out = s ? *s : std::string();
  return true;
}

bool ReadIPv4(Napi::Env env, Napi::Value v, const char* what, in_addr* out) {
  if (!v.IsString()) {
    ThrowTypeError(env, std::string(what) + " must be an IPv4 address string");
    return false;
  }
  std::string s = v.As<Napi::String>().Utf8Value();
  if (inet_pton(AF_INET, s.c_str(), out) != 1) {
    ThrowTypeError(env, std::string(what) + " is not a valid IPv4 address: \"" + s + "\"");
    return false;
  }
  return true;
}

bool ReadOptionalFilter(Napi::Env env, Napi::Value v, const char* what,
                        std::optional<std::vector<uint8_t>>* out) {
  out->reset();
  if (Absent(v)) return true;
  if (!v.IsBuffer()) {
    ThrowTypeError(env, std::string(what) + " must be a Buffer of struct sock_filter");
    return false;
  }
  auto buf = v.As<Napi::Buffer<uint8_t>>();
  size_t len = buf.Length();
  if (len == 0 || len % sizeof(sock_filter) != 0 || len / sizeof(sock_filter) > BPF_MAXINSNS) {
    ThrowTypeError(env, std::string(what) + " must hold 1 to 4096 instructions of 8 bytes each (got " +
                            std::to_string(len) + " bytes)");
    return false;
  }
  *out = std::vector<uint8_t>(buf.Data(), buf.Data() + len);
  return true;
}

bool ReadBufferArray(Napi::Env env, Napi::Value v, const char* what, std::vector<ByteView>* out) {
  out->clear();
  if (!v.IsArray()) {
    ThrowTypeError(env, std::string(what) + " must be an array of Buffers");
    return false;
  }
  auto arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  out->reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value item = arr.Get(i);
    if (!item.IsBuffer()) {
      ThrowTypeError(env, std::string(what) + "[" + std::to_string(i) + "] must be a Buffer");
      return false;
    }
    auto buf = item.As<Napi::Buffer<uint8_t>>();
    out->push_back({buf.Data(), buf.Length()});
  }
  return true;
}

}  // namespace wp

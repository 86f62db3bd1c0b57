#pragma once

#include <napi.h>
#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// Argument readers. Each returns false after throwing a TypeError; absent (undefined/null) optional
// values leave *out empty.
namespace wp {

bool ReadOptionalString(Napi::Env env, Napi::Value v, const char* what, std::optional<std::string>* out);
bool ReadOptionalInt(Napi::Env env, Napi::Value v, const char* what, int64_t min, int64_t max,
                     std::optional<int64_t>* out);
bool ReadRequiredInt(Napi::Env env, Napi::Value v, const char* what, int64_t min, int64_t max,
                     int64_t* out);
bool ReadOptionalBool(Napi::Env env, Napi::Value v, const char* what, std::optional<bool>* out);

// A netns option: absent => "" (the caller's namespace); a non-empty string path otherwise.
bool ReadNetns(Napi::Env env, Napi::Value v, const char* what, std::string* out);

// A dotted IPv4 address.
bool ReadIPv4(Napi::Env env, Napi::Value v, const char* what, in_addr* out);

// A classic BPF program (struct sock_filter[] bytes): non-empty, a multiple of 8, at most 4096 insns.
bool ReadOptionalFilter(Napi::Env env, Napi::Value v, const char* what,
                        std::optional<std::vector<uint8_t>>* out);

// An array of Buffers, as pointers valid for the duration of the call.
struct ByteView {
  const uint8_t* data;
  size_t len;
};
bool ReadBufferArray(Napi::Env env, Napi::Value v, const char* what, std::vector<ByteView>* out);

}  // namespace wp

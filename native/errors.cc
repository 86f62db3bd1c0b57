#include "errors.h"

#include <cerrno>
#include <cstring>

namespace wp {
namespace {

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
#define WP_HAVE_STRERRORNAME_NP 1
#endif

#ifndef WP_HAVE_STRERRORNAME_NP
struct ErrnoEntry {
  int err;
  const char* name;
};
// Only for libcs without strerrorname_np (musl): the errors sockets, netlink and setns produce.
constexpr ErrnoEntry kErrnoNames[] = {
    {EPERM, "EPERM"},           {ENOENT, "ENOENT"},           {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},           {EIO, "EIO"},                 {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},           {EBADF, "EBADF"},             {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},         {EACCES, "EACCES"},           {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},           {EEXIST, "EEXIST"},           {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},       {EINVAL, "EINVAL"},           {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},         {ENOSPC, "ENOSPC"},           {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},         {ENOSYS, "ENOSYS"},           {ENOTSOCK, "ENOTSOCK"},
    {EDESTADDRREQ, "EDESTADDRREQ"}, {EMSGSIZE, "EMSGSIZE"},   {EPROTOTYPE, "EPROTOTYPE"},
    {ENOPROTOOPT, "ENOPROTOOPT"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {EOPNOTSUPP, "EOPNOTSUPP"}, {EAFNOSUPPORT, "EAFNOSUPPORT"}, {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ENETDOWN, "ENETDOWN"}, {ENETUNREACH, "ENETUNREACH"},
    {ECONNRESET, "ECONNRESET"}, {ENOBUFS, "ENOBUFS"},         {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"},     {ETIMEDOUT, "ETIMEDOUT"},     {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTDOWN, "EHOSTDOWN"},   {EHOSTUNREACH, "EHOSTUNREACH"}, {EPROTO, "EPROTO"},
};
#endif

std::string Describe(int err) {
#ifdef WP_HAVE_STRERRORNAME_NP
  // strerrordesc_np is untranslated and thread-safe, unlike strerror.
  if (const char* d = strerrordesc_np(err)) return d;
  return "Unknown error " + std::to_string(err);
#else
  return std::strerror(err);
#endif
}

}  // namespace

std::string ErrnoName(int err) {
#ifdef WP_HAVE_STRERRORNAME_NP
  if (const char* n = strerrorname_np(err)) return n;
#else
  for (const auto& e : kErrnoNames) {
    if (e.err == err) return e.name;
  }
#endif
  return "E" + std::to_string(err);
}

napi_value ErrnoErrorValue(napi_env env, const char* syscall, int err, const std::string& path,
                           const std::string& note) {
  std::string code = ErrnoName(err);
  std::string message = syscall;
  if (!path.empty()) message += " " + path;
  message += ": " + Describe(err) + " (" + code + ")";
  if (!note.empty()) message += ": " + note;
  napi_value msg, error, value;
  if (napi_create_string_utf8(env, message.data(), message.size(), &msg) != napi_ok ||
      napi_create_error(env, nullptr, msg, &error) != napi_ok) {
    return nullptr;
  }
  // Best effort: a property that cannot be set leaves a plain Error.
  if (napi_create_string_utf8(env, code.data(), code.size(), &value) == napi_ok) {
    napi_set_named_property(env, error, "code", value);
  }
  if (napi_create_int32(env, err, &value) == napi_ok) napi_set_named_property(env, error, "errno", value);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value) == napi_ok) {
    napi_set_named_property(env, error, "syscall", value);
  }
  if (!path.empty() && napi_create_string_utf8(env, path.data(), path.size(), &value) == napi_ok) {
    napi_set_named_property(env, error, "path", value);
  }
  return error;
}

Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& path,
                       const std::string& note) {
  return Napi::Error(env, ErrnoErrorValue(env, syscall, err, path, note));
}

void ThrowErrno(Napi::Env env, const char* syscall, int err, const std::string& path,
                const std::string& note) {
  ErrnoError(env, syscall, err, path, note).ThrowAsJavaScriptException();
}

void ThrowSysResult(Napi::Env env, const SysResult& r, const std::string& netns_path) {
  const char* syscall = r.syscall != nullptr ? r.syscall : "unknown";
  bool about_ns = std::strcmp(syscall, "open") == 0 || std::strcmp(syscall, "setns") == 0;
  ThrowErrno(env, syscall, r.err, about_ns ? netns_path : "");
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace wp

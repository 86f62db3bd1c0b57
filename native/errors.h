#pragma once

#include <napi.h>

#include <string>

#include "sys_result.h"

namespace wp {

// "EPERM", "ENOENT", ... ("E<number>" when unknown).
std::string ErrnoName(int err);

// An Error whose message is "<syscall>[ <path>]: <description> (<CODE>)[: <note>]" and that carries
// code, errno (positive), syscall and, when given, path.
Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err, const std::string& path = "",
                       const std::string& note = "");

void ThrowErrno(Napi::Env env, const char* syscall, int err, const std::string& path = "",
                const std::string& note = "");
// Throws r as an errno error; failures to open or enter the namespace name netns_path.
void ThrowSysResult(Napi::Env env, const SysResult& r, const std::string& netns_path = "");

void ThrowTypeError(Napi::Env env, const std::string& message);

// The same error as a plain value, built with the C API only so that it is safe (nullptr) when the
// environment is shutting down.
napi_value ErrnoErrorValue(napi_env env, const char* syscall, int err, const std::string& path = "",
                           const std::string& note = "");

}  // namespace wp

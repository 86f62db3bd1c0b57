#pragma once

namespace wp {

// Outcome of a sequence of system calls, for code that runs off the JS thread or without napi.
struct SysResult {
  int err = 0;                    // 0 or a positive errno
  const char* syscall = nullptr;  // the call that failed
};

}  // namespace wp

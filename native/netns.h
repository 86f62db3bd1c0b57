#pragma once

#include <functional>
#include <string>

#include "sys_result.h"

namespace wp {

// Runs fn with the calling thread's network namespace switched to the one at netns_path, without
// moving the process or the main thread: a short-lived thread joins the namespace, runs fn, and
// exits. Sockets created by fn stay in that namespace for good. An empty path runs fn inline.
// fn returns 0 or an errno and names the failing call in *syscall.
SysResult RunInNetns(const std::string& netns_path, const std::function<int(const char** syscall)>& fn);

}  // namespace wp

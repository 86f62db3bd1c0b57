#include "netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "unique_fd.h"

namespace wp {

SysResult RunInNetns(const std::string& netns_path, const std::function<int(const char** syscall)>& fn) {
  SysResult r;
  if (netns_path.empty()) {
    r.err = fn(&r.syscall);
    return r;
  }
  UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) {
    r.err = errno;
    r.syscall = "open";
    return r;
  }
  try {
    std::thread worker([&] {
      if (::setns(ns.get(), CLONE_NEWNET) != 0) {
        r.err = errno;
        r.syscall = "setns";
        return;
      }
      r.err = fn(&r.syscall);
    });
    worker.join();
  } catch (const std::system_error& e) {
    r.err = e.code().value() > 0 ? e.code().value() : EAGAIN;
    r.syscall = "pthread_create";
  }
  return r;
}

}  // namespace wp

#include "netns.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>

#include <cerrno>

#include "unique_fd.h"

namespace wp {
namespace {

struct Job {
  int ns_fd;
  const std::function<int(const char** syscall)>* fn;
  SysResult result;
};

void* RunJob(void* arg) {
  auto* job = static_cast<Job*>(arg);
  if (::setns(job->ns_fd, CLONE_NEWNET) != 0) {
    job->result = {errno, "setns"};
    return nullptr;
  }
  job->result.err = (*job->fn)(&job->result.syscall);
  return nullptr;
}

}  // namespace

SysResult RunInNetns(const std::string& netns_path, const std::function<int(const char** syscall)>& fn) {
  SysResult r;
  if (netns_path.empty()) {
    r.err = fn(&r.syscall);
    return r;
  }
  UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return {errno, "open"};
  // A thread of our own rather than std::thread: the addon is built without C++ exceptions, and a thread that
  // cannot be made is an errno like any other failure here.
  Job job{ns.get(), &fn, {}};
  pthread_t thread;
  int rc = pthread_create(&thread, nullptr, RunJob, &job);
  if (rc != 0) return {rc, "pthread_create"};
  pthread_join(thread, nullptr);
  return job.result;
}

}  // namespace wp

#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <string>

#include "netlink.h"

// Netlink requests made on the JS thread or, for the *Async calls, on a libuv worker thread: a route dump of a
// large table takes long enough to stall the event loop. A job does its requests with plain C++ (any thread) and
// turns what it got into JS afterwards, on the JS thread.
namespace wp {

class NetlinkJob {
 public:
  virtual ~NetlinkJob() = default;
  // The requests. Returns an error with err 0, or what failed.
  virtual NetlinkError Run(NetlinkSocket& nl) = 0;
  // What Run got, as a JS value; JS thread, after Run succeeded. Empty with an exception pending on failure.
  virtual Napi::Value Result(Napi::Env env) = 0;
};

// The socket of a Netlink handle, shared by its requests, which take turns (a request waits for the one under
// way, a synchronous one too).
struct SharedNetlink {
  std::mutex mu;
  NetlinkSocket nl;
};

// NetlinkError as a JS error (ErrnoErrorValue); null when the environment is going away.
napi_value NetlinkErrorValue(napi_env env, const NetlinkError& e);

// Runs the job now on the JS thread: its result, or throws its error. `shared` null: on a socket of its own,
// opened in netns.
Napi::Value RunJobNow(Napi::Env env, SharedNetlink* shared, const std::string& netns, NetlinkJob& job);

// Runs the job on a libuv worker thread and returns a promise of its result (rejected with the error the
// synchronous call would throw). The worker holds `shared`, so closing the handle meanwhile does not close the
// socket under it; `shared` null: a socket of its own, opened in netns on the worker thread.
Napi::Value QueueJob(Napi::Env env, std::shared_ptr<SharedNetlink> shared, const std::string& netns,
                     std::unique_ptr<NetlinkJob> job);

// A promise rejected with `error` (an async call on a closed handle).
Napi::Value RejectedPromise(Napi::Env env, napi_value error);

}  // namespace wp

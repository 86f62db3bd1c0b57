#include "netlink_job.h"

#include <utility>

#include "errors.h"

namespace wp {
namespace {

NetlinkError RunOn(SharedNetlink* shared, const std::string& netns, NetlinkJob& job) {
  if (shared != nullptr) {
    std::lock_guard<std::mutex> lock(shared->mu);
    return job.Run(shared->nl);
  }
  NetlinkSocket nl;
  NetlinkError e = nl.OpenIn(netns);
  return e.err != 0 ? e : job.Run(nl);
}

class NetlinkWorker : public Napi::AsyncWorker {
 public:
  NetlinkWorker(Napi::Env env, std::shared_ptr<SharedNetlink> shared, std::string netns,
                std::unique_ptr<NetlinkJob> job)
      : Napi::AsyncWorker(env, "wireprobe:netlink"),
        deferred_(Napi::Promise::Deferred::New(env)),
        shared_(std::move(shared)),
        netns_(std::move(netns)),
        job_(std::move(job)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    error_ = RunOn(shared_.get(), netns_, *job_);
    // The handle may be closed by now: its socket goes with the last request that holds it.
    shared_.reset();
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_.err != 0) {
      napi_value error = NetlinkErrorValue(env, error_);
      if (error != nullptr) deferred_.Reject(Napi::Value(env, error));
      return;
    }
    Napi::Value result = job_->Result(env);
    job_.reset();
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
      return;
    }
    deferred_.Resolve(result);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SharedNetlink> shared_;
  std::string netns_;
  std::unique_ptr<NetlinkJob> job_;
  NetlinkError error_;
};

}  // namespace

napi_value NetlinkErrorValue(napi_env env, const NetlinkError& e) {
  return ErrnoErrorValue(env, e.syscall != nullptr ? e.syscall : "unknown", e.err, e.path, e.note);
}

Napi::Value RunJobNow(Napi::Env env, SharedNetlink* shared, const std::string& netns, NetlinkJob& job) {
  NetlinkError e = RunOn(shared, netns, job);
  if (e.err != 0) {
    napi_value error = NetlinkErrorValue(env, e);
    if (error != nullptr) napi_throw(env, error);
    return env.Undefined();
  }
  return job.Result(env);
}

Napi::Value QueueJob(Napi::Env env, std::shared_ptr<SharedNetlink> shared, const std::string& netns,
                     std::unique_ptr<NetlinkJob> job) {
  auto* worker = new NetlinkWorker(env, std::move(shared), netns, std::move(job));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value RejectedPromise(Napi::Env env, napi_value error) {
  auto deferred = Napi::Promise::Deferred::New(env);
  if (error != nullptr) deferred.Reject(Napi::Value(env, error));
  return deferred.Promise();
}

}  // namespace wp

#pragma once

#include <napi.h>

#include <vector>

#include "batch_tx.h"
#include "errors.h"
#include "socket_core.h"

namespace wp {

// The JS face every socket class shares (startReceive, stopReceive, the TX timestamp methods, ref, unref, close,
// fd, lastSendTxId), over one SocketCore. A socket class derives from SocketWrap<Itself>, adds its own
// constructor, send and stats, and passes CommonMethods() to DefineClass.
template <typename T>
class SocketWrap : public Napi::ObjectWrap<T> {
 public:
  using Descriptor = typename Napi::ObjectWrap<T>::PropertyDescriptor;
  using Method = Napi::Value (T::*)(const Napi::CallbackInfo&);

 protected:
  SocketWrap(const Napi::CallbackInfo& info, MetaKind kind, const char* resource)
      : Napi::ObjectWrap<T>(info), core_(info.Env(), kind, resource) {}

  static std::vector<Descriptor> CommonMethods() {
    return {
        Napi::ObjectWrap<T>::InstanceMethod("startReceive", static_cast<Method>(&SocketWrap::StartReceive)),
        Napi::ObjectWrap<T>::InstanceMethod("stopReceive", static_cast<Method>(&SocketWrap::StopReceive)),
        Napi::ObjectWrap<T>::InstanceMethod("startTxTimestamps",
                                            static_cast<Method>(&SocketWrap::StartTxTimestamps)),
        Napi::ObjectWrap<T>::InstanceMethod("stopTxTimestamps", static_cast<Method>(&SocketWrap::StopTxTimestamps)),
        Napi::ObjectWrap<T>::InstanceMethod("readTxTimestamps", static_cast<Method>(&SocketWrap::ReadTxTimestamps)),
        Napi::ObjectWrap<T>::InstanceMethod("ref", static_cast<Method>(&SocketWrap::Ref)),
        Napi::ObjectWrap<T>::InstanceMethod("unref", static_cast<Method>(&SocketWrap::Unref)),
        Napi::ObjectWrap<T>::InstanceMethod("close", static_cast<Method>(&SocketWrap::Close)),
        Napi::ObjectWrap<T>::InstanceAccessor("fd", static_cast<Method>(&SocketWrap::GetFd), nullptr),
        Napi::ObjectWrap<T>::InstanceAccessor("lastSendTxId", static_cast<Method>(&SocketWrap::GetLastSendTxId),
                                              nullptr),
    };
  }

  // A batch send's outcome for JS: the count, or an errno error that says how many went out first.
  static Napi::Value SendOutcome(Napi::Env env, const SendResult& r) {
    if (r.err != 0) {
      Napi::Error e = ErrnoError(env, "sendmmsg", r.err);
      e.Value().Set("sent", Napi::Number::New(env, static_cast<double>(r.sent)));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(r.sent));
  }

  SocketCore core_;

 private:
  Napi::Value StartReceive(const Napi::CallbackInfo& info) {
    core_.StartReceive(info);
    return info.Env().Undefined();
  }
  Napi::Value StopReceive(const Napi::CallbackInfo& info) {
    core_.StopReceive();
    return info.Env().Undefined();
  }
  Napi::Value StartTxTimestamps(const Napi::CallbackInfo& info) { return core_.StartTxTimestamps(info); }
  Napi::Value StopTxTimestamps(const Napi::CallbackInfo& info) {
    core_.StopTxTimestamps();
    return info.Env().Undefined();
  }
  Napi::Value ReadTxTimestamps(const Napi::CallbackInfo& info) { return core_.ReadTxTimestamps(info); }
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    core_.Ref();
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    core_.Unref();
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_.Close();
    return info.Env().Undefined();
  }
  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core_.fd()); }
  Napi::Value GetLastSendTxId(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_.last_send_tx_id());
  }
};

}  // namespace wp

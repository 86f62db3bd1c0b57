#pragma once

#include <napi.h>

namespace wp {

// sendFramesAsync(fd, data, frameLength, count, callback): copies `count` frames of `frameLength` bytes
// from `data` and hands them to sendmmsg on a libuv worker thread; the callback gets (error, sent, doneMs)
// (types.ts: NativeBinding.sendFramesAsync).
Napi::Value SendFramesAsync(const Napi::CallbackInfo& info);

}  // namespace wp

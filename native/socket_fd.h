#pragma once

#include <napi.h>

namespace wp {

// openSocketFd({type, protocol, netns, device}) -> fd: a bare AF_INET socket created inside a network
// namespace (and bound to a device), handed to JavaScript as a plain descriptor. For protocols Node
// drives itself once it has the fd (TCP through net.Socket({ fd })), where the addon's batched
// socket classes do not fit. The caller owns the descriptor.
Napi::Value OpenSocketFd(const Napi::CallbackInfo& info);

}  // namespace wp

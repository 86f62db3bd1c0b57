#pragma once

#include <napi.h>

namespace wp {

// routeGet(destination, options?): RTM_GETROUTE for one IPv4 /32 (RouteInfo in types.ts).
Napi::Value RouteGet(const Napi::CallbackInfo& info);

}  // namespace wp

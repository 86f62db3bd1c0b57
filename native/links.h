#pragma once

#include <napi.h>

namespace wp {

// listLinks(netns?): RTM_GETLINK + RTM_GETADDR dumps joined per link (LinkInfo[] in types.ts).
Napi::Value ListLinks(const Napi::CallbackInfo& info);

}  // namespace wp

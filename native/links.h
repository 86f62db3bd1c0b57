#pragma once

#include <napi.h>

#include <memory>

#include "netlink_job.h"

namespace wp {

// listLinks(netns?): RTM_GETLINK + RTM_GETADDR dumps joined per link (LinkInfo[] in types.ts).
Napi::Value ListLinks(const Napi::CallbackInfo& info);
// listLinksAsync(netns?): the same on a libuv worker thread; a promise.
Napi::Value ListLinksAsync(const Napi::CallbackInfo& info);

// The job behind them, for a NetlinkHandle's own socket.
std::unique_ptr<NetlinkJob> MakeListLinksJob();

}  // namespace wp

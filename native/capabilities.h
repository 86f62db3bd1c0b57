#pragma once

namespace wp {

// Makes CAP_NET_RAW and CAP_NET_ADMIN effective on the calling thread when they are permitted but not
// effective, and leaves every other capability as it is.
//
// Why: a container image gives node the file capability cap_net_raw+p, without the effective bit. With the
// effective bit, the kernel refuses to execute node at all when the container lacks NET_RAW (a "legacy" binary
// must get every capability it carries); without it node starts either way, and wireprobe raises the capability
// itself when it is there, or reports that it cannot probe (the agent's /healthz) when it is not. Capabilities
// are per thread: this runs on the thread that loads the addon, which is the one that opens the sockets.
void RaiseNetCapabilities();

}  // namespace wp

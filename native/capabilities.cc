#include "capabilities.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace wp {

void RaiseNetCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return;
  // Both capabilities are below 32, in the first word.
  const unsigned wanted = (1u << CAP_NET_RAW) | (1u << CAP_NET_ADMIN);
  const unsigned raise = wanted & data[0].permitted & ~data[0].effective;
  if (raise == 0) return;
  data[0].effective |= raise;
  // A failure leaves the thread as it was: the probes then say they lack the privilege, as without the raise.
  syscall(SYS_capset, &header, data);
}

}  // namespace wp

import { assemble, jeq, ld, ret } from "../../net/bpf";

// The kernel filter of the mtu probe's raw ICMPv6 socket (the IPv4 socket takes ping's: it already lets
// fragmentation-needed through, as a destination unreachable). Classic BPF on a raw IPv6 socket sees the ICMPv6
// message itself: the kernel has pulled the IPv6 header.

const ACCEPT = ret(0xffff);
const DROP = ret(0);

/** Echo replies with our identifier, and the errors that may quote our requests, packet too big among them. */
export function mtu6ReplyFilter(id: number): Buffer {
  return assemble([
    ld.byte(0),
    jeq(1, 5, 0), // destination unreachable
    jeq(3, 4, 0), // time exceeded
    jeq(2, 3, 0), // packet too big
    jeq(129, 0, 3), // echo reply
    ld.half(4),
    jeq(id, 0, 1),
    ACCEPT,
    DROP,
  ]);
}

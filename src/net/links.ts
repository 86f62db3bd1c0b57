import { EnvironmentError, environmentErrorFrom } from "../errors";
import { native } from "../native/binding";
import type { LinkInfo } from "../native/types";
import { namespacePath } from "./namespace";

export type { LinkAddress, LinkInfo } from "../native/types";

/** ARPHRD_ETHER: the links we can speak Ethernet and ARP on. */
export const HW_ETHERNET = 1;

/**
 * Every link of a namespace with its addresses (netlink RTM_GETLINK + RTM_GETADDR). `netns` is a name
 * from `ip netns` or a namespace file (/proc/PID/ns/net); without it, the caller's namespace.
 *
 * @example
 * ```ts
 * import { listLinks } from "wireprobe";
 *
 * for (const link of listLinks("/run/netns/node1")) {
 *   console.log(link.name, link.up ? "UP" : "DOWN", link.addresses.map((a) => `${a.address}/${a.prefixLength}`));
 * }
 * ```
 */
export function listLinks(netns?: string): LinkInfo[] {
  try {
    return native.listLinks(namespacePath(netns));
  } catch (err) {
    throw environmentErrorFrom(err, "listing interfaces");
  }
}

/**
 * As {@link listLinks}, asked on a worker thread: the event loop runs on meanwhile.
 *
 * @example
 * ```ts
 * import { listLinksAsync } from "wireprobe";
 *
 * const links = await listLinksAsync("/proc/4242/ns/net");
 * console.log(links.map((l) => l.name)); // e.g. ["lo", "eth0"]
 * ```
 */
export async function listLinksAsync(netns?: string): Promise<LinkInfo[]> {
  try {
    return await native.listLinksAsync(namespacePath(netns));
  } catch (err) {
    throw environmentErrorFrom(err, "listing interfaces");
  }
}

/**
 * The named link, or an EnvironmentError (exit code 3) naming what exists.
 *
 * @example
 * ```ts
 * import { findLink, listLinks } from "wireprobe";
 *
 * const eth0 = findLink(listLinks(), "eth0"); // throws: unknown interface "eth0" (this namespace has: lo, ens3)
 * console.log(eth0.mac, eth0.addresses[0]?.address);
 * ```
 */
export function findLink(links: readonly LinkInfo[], name: string): LinkInfo {
  const link = links.find((l) => l.name === name);
  if (!link) {
    const names = links.map((l) => l.name).join(", ");
    throw new EnvironmentError(`unknown interface "${name}" (this namespace has: ${names})`, "ENODEV");
  }
  return link;
}

import { EnvironmentError, environmentErrorFrom } from "../errors";
import { native } from "../native/binding";
import type { LinkInfo } from "../native/types";

export type { LinkAddress, LinkInfo } from "../native/types";

/** ARPHRD_ETHER: the links we can speak Ethernet and ARP on. */
export const HW_ETHERNET = 1;

/** Every link of the namespace with its addresses (netlink RTM_GETLINK + RTM_GETADDR). */
export function listLinks(netns?: string): LinkInfo[] {
  try {
    return native.listLinks(netns);
  } catch (err) {
    throw environmentErrorFrom(err, "listing interfaces");
  }
}

/** As listLinks, asked on a worker thread: the event loop runs on meanwhile. */
export async function listLinksAsync(netns?: string): Promise<LinkInfo[]> {
  try {
    return await native.listLinksAsync(netns);
  } catch (err) {
    throw environmentErrorFrom(err, "listing interfaces");
  }
}

/** The named link, or an EnvironmentError (exit code 3) naming what exists. */
export function findLink(links: readonly LinkInfo[], name: string): LinkInfo {
  const link = links.find((l) => l.name === name);
  if (!link) {
    const names = links.map((l) => l.name).join(", ");
    throw new EnvironmentError(`unknown interface "${name}" (this namespace has: ${names})`, "ENODEV");
  }
  return link;
}

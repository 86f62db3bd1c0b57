// The default servers: the nameservers of a resolv.conf, chosen to match the namespace being probed.

import * as fs from "node:fs";
import * as path from "node:path";
import { formatIp, parseIp } from "../../addr/ip";
import { isIpv4Mapped } from "../../addr/ipv6";
import { EnvironmentError } from "../../errors";

/** The `nameserver` values of a resolv.conf text, in order (comments and other keywords skipped). */
export function parseResolvConf(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split("\n")) {
    const words = line
      .replace(/[#;].*$/, "")
      .trim()
      .split(/\s+/);
    if (words[0] === "nameserver" && words[1]) servers.push(words[1]);
  }
  return servers;
}

/**
 * The resolv.conf that belongs to a namespace: for /proc/PID/ns/net the process's own (its container's)
 * /proc/PID/root/etc/resolv.conf; for a named namespace /etc/netns/NAME/resolv.conf, which `ip netns exec`
 * would show its commands; otherwise, and when those do not exist, /etc/resolv.conf.
 */
export function resolvConfFor(netns: string | undefined): string {
  if (netns !== undefined) {
    const proc = /^\/proc\/(\d+|self)\/ns\/net$/.exec(netns);
    const candidate = proc
      ? `/proc/${proc[1]}/root/etc/resolv.conf`
      : netns.includes("/")
        ? null
        : path.join("/etc/netns", netns, "resolv.conf");
    if (candidate !== null && fs.existsSync(candidate)) return candidate;
  }
  return "/etc/resolv.conf";
}

export interface Nameservers {
  /** IPv4 and IPv6 servers (IPv6 in RFC 5952 form), in file order, duplicates removed */
  servers: string[];
  /** entries that cannot be asked: not an address, or a link-local one with a zone index ("fe80::1%eth0") */
  skipped: string[];
  /** the file they came from */
  file: string;
}

/** Reads the nameservers of a resolv.conf file; EnvironmentError (exit 3) when it cannot be read. */
export function readNameservers(file: string): Nameservers {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new EnvironmentError(`cannot read ${file}: ${e.code ?? e.message}`, e.code);
  }
  const servers: string[] = [];
  const skipped: string[] = [];
  for (const s of parseResolvConf(text)) {
    const ip = parseIp(s);
    if (ip !== null && !(ip.family === 6 && isIpv4Mapped(ip.bytes))) {
      const text = formatIp(ip);
      if (!servers.includes(text)) servers.push(text);
    } else {
      skipped.push(s);
    }
  }
  return { servers, skipped, file };
}

// A lab host: one network namespace with its interfaces, routes, firewall and processes.

import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { type ExecOptions, type ExecResult, run } from "./exec";
import type { Lab, Segment } from "./lab";
import { assertLabCidr, assertLabNamespace, checkIfname, checkMac } from "./names";
import { NETNS_DIR } from "./netns";

/** An interface a lab created in a host. */
export interface Interface {
  /** the host it belongs to */
  host: Host;
  /** its name inside the host namespace */
  ifname: string;
  /** its MAC address as the kernel reports it (lower case) */
  mac: string;
  /** the addresses given when it was created, "a.b.c.d/len" */
  addresses: string[];
  /** the segment it is plugged into (connect), undefined for a point-to-point link */
  segment?: Segment;
  /** the switch-side port of the veth for connect, or the peer's ifname for link */
  peer: string;
}

/** Options of {@link Host.connect}. */
export interface ConnectOptions {
  /** interface name inside the host, default "eth0" */
  ifname?: string;
  /** address(es) to add, e.g. "198.51.100.11/24"; only lab networks are accepted (see LAB_NETWORKS) */
  address?: string | readonly string[];
  /** MAC address to set before the interface goes up; default: the kernel's random one */
  mac?: string;
}

/** One end of a point-to-point link ({@link Host.link}). */
export interface LinkEnd {
  ifname: string;
  address?: string | readonly string[];
  mac?: string;
}

/** Options of {@link Host.exec}: as for exec.run, with a default timeout of 60 s. */
export type HostExecOptions = Omit<ExecOptions, "onSpawn">;

interface IpLink {
  ifname: string;
  address?: string;
  operstate?: string;
  flags?: string[];
}

interface IpAddr {
  ifname: string;
  addr_info?: { tentative?: boolean; dadfailed?: boolean; local?: string }[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long connect/link wait for links to come up before giving up. */
const READY_TIMEOUT_MS = 5000;

/**
 * A host of a lab: the network namespace `${lab.prefix}-${name}` with its loopback up. Create hosts with
 * {@link Lab.host} or {@link Lab.router}; everything they run or configure stays inside their namespace.
 */
export class Host {
  /** the namespace name, `${lab.prefix}-${name}` */
  readonly ns: string;
  /** the namespace's bind mount, "/run/netns/<ns>" (for setns / nsenter --net=) */
  readonly nsPath: string;
  /** interfaces created through this lab, by ifname */
  readonly interfaces = new Map<string, Interface>();

  /** @internal use Lab.host / Lab.router */
  constructor(
    readonly lab: Lab,
    readonly name: string,
  ) {
    this.ns = `${lab.prefix}-${name}`;
    assertLabNamespace(this.ns);
    this.nsPath = `${NETNS_DIR}/${this.ns}`;
  }

  /** Runs `ip -n NS ...args` (throws on failure unless `reject: false`). */
  ip(args: readonly string[], options: HostExecOptions = {}): Promise<ExecResult> {
    this.lab.assertAlive();
    return run("ip", ["-n", this.ns, ...args], { ...options, onSpawn: (c) => this.lab.track(c) });
  }

  /**
   * Runs a command inside the namespace (`ip netns exec NS cmd ...args`, no shell) and resolves with
   * { code, stdout, stderr, ... }. Throws an ExecError naming the command and its stderr when it fails,
   * unless `reject: false`. Killed after `timeoutMs` (default 60 s; 0 = no limit). The process is
   * tracked: lab.destroy() ends it if it still runs.
   */
  exec(cmd: string, args: readonly string[] = [], options: HostExecOptions = {}): Promise<ExecResult> {
    this.lab.assertAlive();
    return run("ip", ["netns", "exec", this.ns, cmd, ...args], {
      timeoutMs: 60_000,
      ...options,
      onSpawn: (c) => this.lab.track(c),
    });
  }

  /**
   * Starts a long-running command inside the namespace (`ip netns exec NS cmd ...args`, no shell) and
   * returns the ChildProcess (stdio "pipe" unless given). lab.destroy() sends it SIGTERM, then SIGKILL.
   */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    this.lab.assertAlive();
    const child = spawn("ip", ["netns", "exec", this.ns, cmd, ...args], { stdio: "pipe", ...options });
    this.lab.track(child);
    return child;
  }

  /**
   * Plugs this host into a segment: a veth whose end `ifname` (default "eth0") is in this host and whose
   * other end is a port of the segment's bridge in the switch namespace. Adds the addresses, sets the MAC
   * if given, brings both ends up and waits until they carry traffic (link up, bridge port forwarding).
   */
  async connect(segment: Segment, options: ConnectOptions = {}): Promise<Interface> {
    const ifname = options.ifname ?? "eth0";
    const addresses = toList(options.address);
    this.checkNewInterface(ifname, addresses, options.mac);
    if (segment.lab !== this.lab) throw new Error(`segment ${segment.name} belongs to another lab`);
    const sw = this.lab.switch;
    const port = this.lab.nextPortName();
    await sw.ip(["link", "add", port, "type", "veth", "peer", "name", ifname, "netns", this.ns]);
    await sw.ip(["link", "set", "dev", port, "alias", `${this.name}/${ifname}`]);
    await this.configure(ifname, addresses, options.mac);
    await sw.ip(["link", "set", "dev", port, "master", segment.bridge, "up"]);
    await this.waitForLink(ifname);
    await sw.waitForLink(port);
    await sw.waitForLink(segment.bridge);
    await waitUntil(`bridge port ${port} of ${segment.bridge} forwarding`, async () => {
      const r = await run("bridge", ["-n", sw.ns, "-j", "link", "show", "dev", port], { reject: false });
      return r.code === 0 && /"state"\s*:\s*"forwarding"/.test(r.stdout);
    });
    const iface: Interface = {
      host: this,
      ifname,
      mac: await this.mac(ifname),
      addresses,
      segment,
      peer: port,
    };
    this.interfaces.set(ifname, iface);
    segment.interfaces.push(iface);
    return iface;
  }

  /**
   * Unplugs an interface that {@link Host.connect} made: deletes the veth, both ends (its addresses and the
   * routes through it go with it), so the host can be plugged in again, elsewhere, under the same name.
   */
  async disconnect(ifname: string): Promise<void> {
    const iface = this.interfaces.get(ifname);
    if (!iface?.segment) throw new Error(`${this.name} has no interface ${ifname} plugged into a segment`);
    await this.ip(["link", "del", "dev", ifname]);
    this.interfaces.delete(ifname);
    iface.segment.interfaces.splice(iface.segment.interfaces.indexOf(iface), 1);
  }

  /**
   * A direct point-to-point veth between this host (end `mine`) and `other` (end `theirs`), both up and
   * addressed. Resolves with both interfaces, this host's first.
   */
  async link(other: Host, mine: LinkEnd, theirs: LinkEnd): Promise<[Interface, Interface]> {
    if (other.lab !== this.lab) throw new Error(`host ${other.name} belongs to another lab`);
    if (other === this) throw new Error("link needs two different hosts");
    const myAddresses = toList(mine.address);
    const theirAddresses = toList(theirs.address);
    this.checkNewInterface(mine.ifname, myAddresses, mine.mac);
    other.checkNewInterface(theirs.ifname, theirAddresses, theirs.mac);
    await this.ip([
      "link",
      "add",
      mine.ifname,
      "type",
      "veth",
      "peer",
      "name",
      theirs.ifname,
      "netns",
      other.ns,
    ]);
    await this.configure(mine.ifname, myAddresses, mine.mac);
    await other.configure(theirs.ifname, theirAddresses, theirs.mac);
    await this.waitForLink(mine.ifname);
    await other.waitForLink(theirs.ifname);
    const a: Interface = {
      host: this,
      ifname: mine.ifname,
      mac: await this.mac(mine.ifname),
      addresses: myAddresses,
      peer: theirs.ifname,
    };
    const b: Interface = {
      host: other,
      ifname: theirs.ifname,
      mac: await other.mac(theirs.ifname),
      addresses: theirAddresses,
      peer: mine.ifname,
    };
    this.interfaces.set(a.ifname, a);
    other.interfaces.set(b.ifname, b);
    return [a, b];
  }

  /** Adds an address ("198.51.100.20/24"; lab networks only) to an interface. */
  async addAddress(ifname: string, cidr: string): Promise<void> {
    assertLabCidr(cidr);
    await this.ip(["addr", "add", cidr, "dev", ifname, ...nodad(cidr)]);
    this.interfaces.get(ifname)?.addresses.push(cidr);
  }

  /** `ip -n NS route add ...spec`, e.g. route(["default", "via", "198.51.100.1"]). */
  async route(spec: readonly string[]): Promise<void> {
    await this.ip(["route", "add", ...spec]);
  }

  /** Adds a route to `destination` ("default" or "a.b.c.d/len") via a gateway, optionally out of `ifname`. */
  async addRoute(destination: string, via: string, ifname?: string): Promise<void> {
    await this.route([destination, "via", via, ...(ifname ? ["dev", ifname] : [])]);
  }

  /** Sets a sysctl inside the namespace (`sysctl -w key=value`), e.g. sysctl("net.ipv4.ip_forward", "1"). */
  async sysctl(key: string, value: string): Promise<void> {
    if (!/^[a-z0-9_./-]+$/i.test(key) || /[\s=]/.test(value)) throw new Error(`bad sysctl ${key}=${value}`);
    await this.exec("sysctl", ["-q", "-w", `${key}=${value}`]);
  }

  /** Loads an nftables ruleset into the namespace (`nft -f -` with the text on stdin). */
  async nft(ruleset: string): Promise<void> {
    await this.exec("nft", ["-f", "-"], { input: ruleset });
  }

  /** The MAC address of an interface, lower case. */
  async mac(ifname: string): Promise<string> {
    const [link] = await this.links(ifname);
    if (!link?.address) throw new Error(`no MAC address on ${ifname} in ${this.ns}`);
    return link.address.toLowerCase();
  }

  /**
   * Waits until an interface carries traffic: operstate UP (or UNKNOWN for devices without carrier
   * reporting), no NO-CARRIER flag, and no address still tentative (IPv6 duplicate address detection).
   */
  async waitForLink(ifname: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    let last = "";
    await waitUntil(
      `${ifname} in ${this.ns} up`,
      async () => {
        const [link] = await this.links(ifname);
        const flags = link?.flags ?? [];
        last = `operstate ${link?.operstate} flags ${flags.join(",")}`;
        if (!link || !flags.includes("UP") || flags.includes("NO-CARRIER")) return false;
        if (link.operstate !== "UP" && link.operstate !== "UNKNOWN") return false;
        const r = await this.ip(["-j", "addr", "show", "dev", ifname]);
        const addrs = (JSON.parse(r.stdout || "[]") as IpAddr[]).flatMap((a) => a.addr_info ?? []);
        last += addrs.some((a) => a.tentative) ? " (address tentative)" : "";
        return !addrs.some((a) => a.tentative);
      },
      timeoutMs,
      () => last,
    );
  }

  private async links(ifname: string): Promise<IpLink[]> {
    const r = await this.ip(["-j", "link", "show", "dev", ifname]);
    return JSON.parse(r.stdout || "[]") as IpLink[];
  }

  private checkNewInterface(ifname: string, addresses: readonly string[], mac: string | undefined): void {
    this.lab.assertAlive();
    checkIfname(ifname);
    for (const a of addresses) assertLabCidr(a);
    if (mac !== undefined) checkMac(mac);
    if (this.interfaces.has(ifname)) throw new Error(`${this.name} already has an interface ${ifname}`);
  }

  private async configure(
    ifname: string,
    addresses: readonly string[],
    mac: string | undefined,
  ): Promise<void> {
    if (mac !== undefined) await this.ip(["link", "set", "dev", ifname, "address", mac]);
    for (const a of addresses) await this.ip(["addr", "add", a, "dev", ifname, ...nodad(a)]);
    await this.ip(["link", "set", "dev", ifname, "up"]);
  }
}

/** IPv6 addresses skip duplicate address detection: a lab's addresses are unique, and usable at once. */
function nodad(cidr: string): string[] {
  return cidr.includes(":") ? ["nodad"] : [];
}

function toList(address: string | readonly string[] | undefined): string[] {
  if (address === undefined) return [];
  return typeof address === "string" ? [address] : [...address];
}

/** Polls `check` every 20 ms until it returns true; throws after `timeoutMs` naming what it waited for. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = READY_TIMEOUT_MS,
  detail?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) {
      const extra = detail?.();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra ? ` (${extra})` : ""}`);
    }
    await sleep(20);
  }
}

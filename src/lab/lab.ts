// A lab: a set of network namespaces (hosts) joined by layer-2 segments, built for tests and demos.
// Nothing is ever created in the host (initial) namespace: segments are bridges inside the lab's own
// "switch" namespace, and veths are created with both ends directly in lab namespaces.

import type { ChildProcess } from "node:child_process";
import { registerLiveLab, unregisterLiveLab } from "./cleanup";
import { run } from "./exec";
import { Host, type Interface } from "./host";
import { checkHostName, checkSegmentName, labPrefixOf, makePrefix } from "./names";
import {
  addNamespace,
  deleteNamespace,
  deleteNamespaceSync,
  listNamespaces,
  processAlive,
  terminate,
  terminateSync,
} from "./netns";
import { claimPrefix, markKept, releasePrefix } from "./owner";

/** Options of {@link Lab.create}. */
export interface LabOptions {
  /** a short name; its first 6 characters of [a-z0-9] go into the prefix `wp<name>-<4 hex>` */
  name: string;
  /**
   * Keep IPv6 enabled in the lab namespaces. Default false: IPv6 is disabled everywhere in the lab, so
   * captures are not cluttered with router solicitations, MLD reports and DAD probes.
   */
  ipv6?: boolean;
}

/**
 * A layer-2 segment: a Linux bridge `br-<name>` inside the lab's switch namespace, STP off, forward
 * delay 0 and multicast snooping off, so it forwards every frame at once.
 */
export class Segment {
  /** the interfaces plugged into it, in connection order */
  readonly interfaces: Interface[] = [];

  /** @internal use Lab.segment */
  constructor(
    readonly lab: Lab,
    readonly name: string,
    /** the bridge's interface name inside the switch namespace (lab.switch.ns) */
    readonly bridge: string,
  ) {}
}

/**
 * A network lab. Create with {@link Lab.create}, add segments and hosts, and always {@link Lab.destroy}
 * it (the process exit / SIGINT / SIGTERM / SIGHUP / SIGALRM hooks destroy forgotten labs as a last resort,
 * and sweepStaleLabs removes the leftovers of killed processes).
 *
 * ```ts
 * const lab = await Lab.create({ name: "demo" });
 * const lan = await lab.segment("lan");
 * const a = await lab.host("a");
 * await a.connect(lan, { address: "198.51.100.11/24" });
 * await a.exec("ping", ["-c1", "198.51.100.12"]);
 * await lab.destroy();
 * ```
 */
export class Lab {
  /**
   * The switch namespace `${prefix}-sw`, holding every segment's bridge and the switch-side veth ends.
   * It is a Host so captures and commands can run there too (e.g. tcpdump on a bridge).
   */
  readonly switch: Host;

  readonly #hosts = new Map<string, Host>();
  readonly #segments = new Map<string, Segment>();
  /** every namespace this lab created or is creating, in creation order */
  readonly #namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();
  #ports = 0;
  #destroying: Promise<Error[]> | null = null;
  #finished = false;

  private constructor(
    /** the name given to create */
    readonly name: string,
    /** the unique prefix of all its namespaces, `wp<name>-<4 hex>` */
    readonly prefix: string,
    /** whether IPv6 is left enabled */
    readonly ipv6: boolean,
  ) {
    this.switch = new Host(this, "sw");
  }

  /**
   * Creates a lab with a unique prefix (claimed in /run/wireprobe-labs/<prefix> with this process's pid)
   * and its switch namespace.
   */
  static async create(options: LabOptions): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error("a lab needs root (it creates network namespaces)");
    let prefix: string | null = null;
    for (let attempt = 0; attempt < 50 && prefix === null; attempt++) {
      const candidate = makePrefix(options.name);
      if (!claimPrefix(candidate, options.name)) continue;
      if (listNamespaces().some((ns) => labPrefixOf(ns) === candidate)) {
        // namespaces of a stale lab without owner file use this prefix: leave them to sweepStaleLabs
        releasePrefix(candidate);
        continue;
      }
      prefix = candidate;
    }
    if (prefix === null)
      throw new Error(`could not find a free lab prefix for ${JSON.stringify(options.name)}`);
    const lab = new Lab(options.name, prefix, options.ipv6 ?? false);
    registerLiveLab(lab);
    try {
      await lab.#addNamespace(lab.switch.ns);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** The hosts created so far (including routers, not the switch), by name. */
  get hosts(): ReadonlyMap<string, Host> {
    return this.#hosts;
  }

  /** The segments created so far, by name. */
  get segments(): ReadonlyMap<string, Segment> {
    return this.#segments;
  }

  /** Names of the namespaces this lab created (switch first). */
  get namespaces(): readonly string[] {
    return [...this.#namespaces];
  }

  /** True once destroy() (or the exit hooks) started tearing the lab down. */
  get destroyed(): boolean {
    return this.#destroying !== null || this.#finished;
  }

  /** Creates a segment: bridge `br-<name>` (name: 1-12 of [A-Za-z0-9_-]) in the switch namespace, up. */
  async segment(name: string): Promise<Segment> {
    this.assertAlive();
    checkSegmentName(name);
    if (this.#segments.has(name)) throw new Error(`segment ${name} exists already`);
    const segment = new Segment(this, name, `br-${name}`);
    this.#segments.set(name, segment);
    await this.switch.ip([
      "link",
      "add",
      segment.bridge,
      "type",
      "bridge",
      "stp_state",
      "0",
      "forward_delay",
      "0",
      "mcast_snooping",
      "0",
    ]);
    await this.switch.ip(["link", "set", "dev", segment.bridge, "up"]);
    return segment;
  }

  /** Creates a host: namespace `${prefix}-${name}` (name: 1-32 of [A-Za-z0-9_-], not "sw") with lo up. */
  async host(name: string): Promise<Host> {
    this.assertAlive();
    checkHostName(name);
    if (this.#hosts.has(name)) throw new Error(`host ${name} exists already`);
    const host = new Host(this, name);
    this.#hosts.set(name, host);
    await this.#addNamespace(host.ns);
    return host;
  }

  /**
   * Creates a router: a host with IPv4 forwarding on, plugged into each segment in turn as eth0, eth1, ...
   * with the given address(es), e.g. router("r", [[lan, "198.51.100.1/24"], [wan, "203.0.113.1/24"]]).
   */
  async router(
    name: string,
    legs: ReadonlyArray<readonly [Segment, string | readonly string[]]>,
  ): Promise<Host> {
    const host = await this.host(name);
    await host.sysctl("net.ipv4.ip_forward", "1");
    for (const [i, [segment, address]] of legs.entries()) {
      await host.connect(segment, { ifname: `eth${i}`, address });
    }
    return host;
  }

  /**
   * Leaves the lab up after this process exits (`wireprobe demo --keep`): no exit hook destroys it, and
   * sweeps of stale labs leave it alone until one is asked to include kept labs (`wireprobe demo --down`).
   * The processes it started keep running.
   */
  keep(): void {
    for (const child of this.#children) {
      // Let this process exit without them: no handle and no pipe of theirs may hold the event loop.
      child.stdin?.destroy();
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
    }
    this.#children.clear();
    unregisterLiveLab(this);
    markKept(this.prefix);
  }

  /**
   * Tears the lab down: ends every process it started (SIGTERM, then SIGKILL) and any other process still
   * inside its namespaces, deletes all its namespaces (which removes their veths and bridges) and releases
   * its prefix. Idempotent (later calls return the first call's result) and never throws: resolves with
   * the errors met on the way, empty when everything is gone.
   */
  destroy(): Promise<Error[]> {
    if (this.#destroying === null) this.#destroying = this.#destroy();
    return this.#destroying;
  }

  async #destroy(): Promise<Error[]> {
    const errors: Error[] = [];
    try {
      const pids = this.#trackedPids();
      const survivors = await terminate(pids);
      if (survivors.length) errors.push(new Error(`processes ${survivors.join(", ")} survived SIGKILL`));
      // hosts before the switch, newest first
      for (const ns of [...this.#namespaces].reverse()) {
        try {
          await deleteNamespace(ns);
        } catch (err) {
          errors.push(err as Error);
        }
      }
      this.#finish(errors);
    } catch (err) {
      errors.push(err as Error);
    }
    return errors;
  }

  /**
   * Synchronous destroy for exit and signal handlers (uses execFileSync; a short SIGTERM grace). Prefer
   * destroy(). Idempotent; never throws.
   */
  destroySync(): Error[] {
    if (this.#finished) return [];
    if (this.#destroying === null) this.#destroying = Promise.resolve([]);
    const errors: Error[] = [];
    try {
      const survivors = terminateSync(this.#trackedPids());
      if (survivors.length) errors.push(new Error(`processes ${survivors.join(", ")} survived SIGKILL`));
      for (const ns of [...this.#namespaces].reverse()) {
        try {
          deleteNamespaceSync(ns);
        } catch (err) {
          errors.push(err as Error);
        }
      }
      this.#finish(errors);
    } catch (err) {
      errors.push(err as Error);
    }
    return errors;
  }

  #finish(errors: Error[]): void {
    const left = listNamespaces().filter((ns) => labPrefixOf(ns) === this.prefix);
    if (left.length) {
      errors.push(new Error(`namespaces left after destroy: ${left.join(", ")}`));
    } else {
      releasePrefix(this.prefix);
    }
    this.#finished = true;
    unregisterLiveLab(this);
  }

  #trackedPids(): number[] {
    return [...this.#children].flatMap((c) => (c.pid !== undefined && processAlive(c.pid) ? [c.pid] : []));
  }

  async #addNamespace(ns: string): Promise<void> {
    this.#namespaces.push(ns);
    await addNamespace(ns);
    if (this.destroyed) {
      // destroy() ran while the namespace was being created
      await deleteNamespace(ns);
      throw new Error(`lab ${this.prefix} was destroyed while creating ${ns}`);
    }
    await run("ip", ["-n", ns, "link", "set", "dev", "lo", "up"]);
    if (!this.ipv6) {
      await run("ip", [
        "netns",
        "exec",
        ns,
        "sysctl",
        "-q",
        "-w",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
      ]);
    }
  }

  /** @internal throws when the lab is being destroyed */
  assertAlive(): void {
    if (this.destroyed) throw new Error(`lab ${this.prefix} is destroyed`);
  }

  /** @internal tracks a process for destroy(); it is forgotten when it exits */
  track(child: ChildProcess): void {
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
    child.once("error", () => this.#children.delete(child));
  }

  /** @internal a fresh switch-side veth name, p1, p2, ... */
  nextPortName(): string {
    this.#ports += 1;
    return `p${this.#ports}`;
  }
}

// InetSocket.send takes its destinations as packed numbers (4 bytes per packet on an IPv4 socket, 16 on an IPv6
// one) and builds each packet's sockaddr from the socket's family. The oracle for where the packets went is not
// the addon: a Node UDP server in each peer namespace reports what it got and from where. The addon's own
// receive path must report an IPv6 source as well as an IPv4 one.
import type { ChildProcess } from "node:child_process";
import t from "tap";
import { formatIp, ipFromMeta, packAddressText, parseIp } from "../src/addr/ip";
import type { Host } from "../src/lab";
import { Lab } from "../src/lab";
import { META_STRIDE, type NativeInetSocket, native } from "../src/native/binding";

const PORT = 4000;
const V4 = { a: "198.51.100.10", b: "198.51.100.11", c: "198.51.100.12" };
const V6 = { a: "2001:db8:1::10", b: "2001:db8:1::11", c: "2001:db8:1::12" };

interface Datagram {
  family: "udp4" | "udp6";
  msg: string;
  from: string;
  port: number;
}

/** A Node UDP server on PORT (IPv4 and IPv6) inside the host's namespace: the oracle of what arrived. */
class Oracle {
  readonly got: Datagram[] = [];
  private readonly child: ChildProcess;
  private ready: Promise<void>;

  constructor(host: Host) {
    const script = `
      const dgram = require("node:dgram");
      let up = 0;
      for (const type of ["udp4", "udp6"]) {
        const s = dgram.createSocket(type === "udp6" ? { type, ipv6Only: true } : { type });
        s.on("error", (e) => { console.error(type, e.message); process.exit(1); });
        s.on("message", (m, r) => console.log(JSON.stringify({ family: type, msg: m.toString(), from: r.address, port: r.port })));
        s.bind(${PORT}, () => { if (++up === 2) console.log("ready"); });
      }`;
    this.child = host.spawn(process.execPath, ["-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
      // tap's loaders (NODE_OPTIONS) are for the test process, not for the oracle
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    let buffered = "";
    this.ready = new Promise((resolve, reject) => {
      this.child.on("exit", (code) => reject(new Error(`the oracle in ${host.ns} exited (${code})`)));
      this.child.stdout!.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line === "ready") resolve();
          else if (line.startsWith("{")) this.got.push(JSON.parse(line) as Datagram);
          nl = buffered.indexOf("\n");
        }
      });
    });
  }

  start(): Promise<void> {
    return this.ready;
  }

  stop(): void {
    this.child.kill();
  }
}

async function until<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test("packed numeric destinations reach the right peers, IPv4 and IPv6", async (t) => {
  // IPv6 left on: the lab's own default turns it off.
  const lab = await Lab.create({ name: "numsend", ipv6: true });
  t.teardown(async () => {
    for (const err of await lab.destroy()) t.comment(`lab teardown: ${err.message}`);
  });
  const lan = await lab.segment("lan");
  const hosts: Record<"a" | "b" | "c", Host> = {
    a: await lab.host("a"),
    b: await lab.host("b"),
    c: await lab.host("c"),
  };
  for (const name of ["a", "b", "c"] as const) {
    await hosts[name].connect(lan, { address: `${V4[name]}/24` });
    // nodad: the address is usable at once, no duplicate detection to wait out.
    await hosts[name].ip(["addr", "add", `${V6[name]}/64`, "dev", "eth0", "nodad"]);
  }
  const oracles = { b: new Oracle(hosts.b), c: new Oracle(hosts.c) };
  t.teardown(() => {
    oracles.b.stop();
    oracles.c.stop();
  });
  await Promise.all([oracles.b.start(), oracles.c.start()]);
  const ns = hosts.a.nsPath;

  for (const family of [4, 6] as const) {
    const addr = family === 4 ? V4 : V6;
    const udp = family === 4 ? "udp4" : "udp6";
    t.test(
      `AF_INET${family === 6 ? "6" : ""}: one sendmmsg, packets alternating between two peers`,
      async (t) => {
        const sock = new native.InetSocket({ type: "dgram", protocol: 17, family, netns: ns, bindPort: 0 });
        t.teardown(() => sock.close());
        const local = sock.localAddress();
        t.equal(local.family, family, "localAddress says the socket's family");
        const order = ["b", "c", "b", "c", "c", "b"] as const;
        const packets = order.map((peer, k) => Buffer.from(`${family}-${peer}-${k}`));
        const destinations = packAddressText(order.map((peer) => addr[peer]));
        t.equal(destinations.length, order.length * (family === 4 ? 4 : 16));
        t.equal(
          sock.send(
            packets,
            destinations,
            order.map(() => PORT),
          ),
          order.length,
          "all accepted",
        );
        for (const peer of ["b", "c"] as const) {
          const want = order.flatMap((p, k) => (p === peer ? [`${family}-${p}-${k}`] : []));
          const got = await until(`${peer}'s datagrams`, () => {
            const mine = oracles[peer].got.filter((d) => d.msg.startsWith(`${family}-`));
            return mine.length >= want.length ? mine : undefined;
          });
          t.same(
            got.map((d) => d.msg).sort(),
            want.sort(),
            `${peer} got exactly the packets addressed to it`,
          );
          for (const d of got) {
            t.equal(d.family, udp, `${d.msg} came in over ${udp}`);
            t.equal(d.from, addr.a, `${d.msg} came from a`);
            t.equal(d.port, local.port, `${d.msg} came from the socket's port`);
          }
        }
      },
    );
  }

  t.test("AF_INET6 on the loopback (::1) inside the namespace, received by the addon itself", async (t) => {
    const server = new native.InetSocket({ type: "dgram", protocol: 17, family: 6, netns: ns, bindPort: 0 });
    const client = new native.InetSocket({
      type: "dgram",
      protocol: 17,
      family: 6,
      netns: ns,
      bindAddress: "::1",
    });
    t.teardown(() => {
      server.close();
      client.close();
    });
    const got: Array<{ msg: string; from: string; port: number }> = [];
    server.startReceive((data, meta, count) => {
      for (let p = 0; p < count; p++) {
        const m = p * META_STRIDE;
        const msg = data.toString("utf8", meta[m]!, meta[m]! + meta[m + 1]!);
        got.push({ msg, from: formatIp(ipFromMeta(meta[m + 3]!, data, 6)), port: meta[m + 4]! });
      }
    });
    client.send([Buffer.from("one"), Buffer.from("two")], packAddressText(["::1", "::1"]), [
      server.localAddress().port,
      server.localAddress().port,
    ]);
    await until("the datagrams on ::1", () => (got.length >= 2 ? true : undefined));
    const port = client.localAddress().port;
    t.same(got, [
      { msg: "one", from: "::1", port },
      { msg: "two", from: "::1", port },
    ]);
  });

  t.test("an IPv6 source across the segment, as the addon reports it", async (t) => {
    const server = new native.InetSocket({
      type: "dgram",
      protocol: 17,
      family: 6,
      netns: hosts.b.nsPath,
      bindPort: PORT + 1,
    });
    const client = new native.InetSocket({ type: "dgram", protocol: 17, family: 6, netns: ns });
    t.teardown(() => {
      server.close();
      client.close();
    });
    const sources: string[] = [];
    server.startReceive((data, meta, count) => {
      for (let p = 0; p < count; p++) sources.push(formatIp(ipFromMeta(meta[p * META_STRIDE + 3]!, data, 6)));
    });
    client.send([Buffer.from("hello")], packAddressText([V6.b]), [PORT + 1]);
    await until("the datagram at b", () => (sources.length > 0 ? true : undefined));
    t.same(sources, [V6.a]);
    t.same(parseIp(sources[0]!), parseIp(V6.a));
  });

  t.test(
    "malformed address buffers are a TypeError that says what was expected, never a crash",
    async (t) => {
      const v4: NativeInetSocket = new native.InetSocket({ type: "dgram", protocol: 17, netns: ns });
      const v6: NativeInetSocket = new native.InetSocket({
        type: "dgram",
        protocol: 17,
        family: 6,
        netns: ns,
      });
      t.teardown(() => {
        v4.close();
        v6.close();
      });
      const one = [Buffer.from("x")];
      t.throws(() => v6.send(one, Buffer.alloc(4), [9]), {
        name: "TypeError",
        message:
          "send(packets, addresses): addresses must be a Buffer of 16 bytes per packet (packed IPv6 addresses, network order): got 4 bytes for 1 packets",
      });
      t.throws(() => v4.send(one, Buffer.alloc(16), [9]), {
        name: "TypeError",
        message:
          "send(packets, addresses): addresses must be a Buffer of 4 bytes per packet (packed IPv4 addresses, network order): got 16 bytes for 1 packets",
      });
      t.throws(() => v4.send(one, "198.51.100.1" as unknown as Uint8Array), TypeError);
      t.throws(() => v4.send(one, undefined as unknown as Uint8Array), TypeError);
      t.throws(() => v6.send(one, new Float64Array(2) as unknown as Uint8Array), TypeError);
      t.equal(v6.send([], Buffer.alloc(0)), 0, "nothing to send is fine");
      t.throws(
        () => new native.InetSocket({ type: "raw", protocol: 255, family: 6, hdrincl: true, netns: ns }),
        {
          name: "TypeError",
          message: "options.hdrincl needs family 4",
        },
      );
      for (const family of [5, 0, "6", 4.5]) {
        t.throws(
          () => new native.InetSocket({ type: "dgram", protocol: 17, family: family as 4, netns: ns }),
          { name: "TypeError", message: "options.family must be 4 or 6" },
          `family ${JSON.stringify(family)}`,
        );
      }
      // hdrincl: false asks for nothing IPv4-only
      new native.InetSocket({ type: "raw", protocol: 255, family: 6, hdrincl: false, netns: ns }).close();
      t.throws(
        () =>
          new native.InetSocket({
            type: "dgram",
            protocol: 17,
            family: 6,
            bindAddress: "127.0.0.1",
            netns: ns,
          }),
        {
          name: "TypeError",
          message: 'options.bindAddress is not a valid IPv6 address: "127.0.0.1"',
        },
      );
      // the sockets are still fine after all that
      t.equal(v4.localAddress().family, 4);
      t.equal(v6.localAddress().family, 6);
    },
  );
});

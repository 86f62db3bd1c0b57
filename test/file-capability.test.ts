// A node binary with the file capability cap_net_raw+p (permitted, no effective bit), as the container image
// ships it: run as uid 65534, wireprobe makes NET_RAW effective itself and gets a real ARP reply (the peer's
// MAC is the oracle). Where NET_RAW is not in the bounding set (a container without it), the same binary still
// starts, and the probe fails with one line and exit 3. With cap_net_raw+ep the kernel would refuse to execute
// it there at all (the oracle: the same setpriv line with a +ep copy).

import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { AS_NOBODY, runCommand, unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";

/** A world-executable copy of this node with `caps` as its file capability (setcap's syntax). */
function nodeWithCapability(dir: string, name: string, caps: string): Promise<string> {
  const copy = join(dir, name);
  copyFileSync(process.execPath, copy);
  chmodSync(copy, 0o755);
  return runCommand(["setcap", caps, copy], 60_000).then((r) => {
    if (r.code !== 0) throw new Error(`setcap ${caps} ${copy}: ${r.stderr.trim()}`);
    return copy;
  });
}

t.test(
  "cap_net_raw+p: wireprobe raises it and probes as uid 65534; without it in the bounding set, exit 3",
  async (t) => {
    const lab = await withLab(t, "fcap");
    const lan = await lab.segment("lan");
    const node = await lab.host("node");
    const peer = await lab.host("peer");
    await node.connect(lan, { address: "198.51.100.10/24" });
    const peerLink = await peer.connect(lan, { address: "198.51.100.11/24" });

    // mkdtemp makes 0700: uid 65534 must reach the binaries inside.
    const dir = mkdtempSync(join(tmpdir(), "wp-fcap-"));
    chmodSync(dir, 0o755);
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const permitted = await nodeWithCapability(dir, "node-p", "cap_net_raw+p");
    const effective = await nodeWithCapability(dir, "node-ep", "cap_net_raw+ep");
    const bin = unprivilegedBin();
    const arpArgs = ["arp", "--json", "--timeout", "500", "198.51.100.11"];
    const asNobody = (nodeBin: string, extra: string[] = []) =>
      runCommand(["ip", "netns", "exec", node.ns, ...AS_NOBODY, ...extra, nodeBin, bin, ...arpArgs], 60_000);

    const ok = await asNobody(permitted);
    t.equal(ok.code, 0, `exit 0 (${ok.stderr.trim()})`);
    const record = ok.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; state?: string; mac?: string })
      .find((r) => r.type === "arp");
    t.match(record, { state: "reply", mac: peerLink.mac }, "a real reply, from the peer's MAC");

    const plain = await asNobody(process.execPath);
    t.equal(plain.code, 3, "the same as uid 65534 without the file capability: exit 3");

    const without = await asNobody(permitted, ["--bounding-set=-net_raw"]);
    t.equal(without.code, 3, `without NET_RAW in the bounding set: node starts, the probe exits 3`);
    t.match(without.stderr, /^wireprobe: .*CAP_NET_RAW.*\n$/, "one line saying what is missing");

    const legacy = await asNobody(effective, ["--bounding-set=-net_raw"]);
    t.not(legacy.code, 0, "the oracle: a cap_net_raw+ep node cannot be executed there");
    t.match(legacy.stderr, /Operation not permitted/, legacy.stderr.trim());
  },
);

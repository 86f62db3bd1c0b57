// `wireprobe ping` takes what iputils ping users type: the same argument vectors, run by iputils ping and by
// wireprobe in the same lab namespace, both send the same number of requests and both succeed.
//
//   segment a 198.51.100.0/24: node .10, peer .11

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import type { PingRecord } from "../src/records";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

function wireprobe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "ping", ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

t.test("iputils ping's arguments", async (t) => {
  const lab = await withLab(t, "pingargs");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const peer = await lab.host("peer");
  await peer.connect(a, { address: "198.51.100.11/24" });

  for (const argv of [
    ["-c1", "198.51.100.11"],
    ["-c", "1", "198.51.100.11"],
    ["-c1", "-W1", "-i0.2", "198.51.100.11"],
    ["-c", "2", "-W", "1", "-i", "0.2", "198.51.100.11"],
    ["-c2", "-i0.1", "-I", "eth0", "198.51.100.11"],
  ]) {
    const what = argv.join(" ");
    const oracle = await node.exec("ping", ["-n", ...argv], { reject: false });
    const transmitted = Number(/(\d+) packets transmitted/.exec(oracle.stdout)?.[1]);
    t.equal(oracle.code, 0, `iputils ping ${what}`);
    const r = await wireprobe(["--netns", node.ns, "--json", ...argv]);
    t.equal(r.code, 0, `wireprobe ping ${what}: ${r.stderr.trim()}`);
    const record = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PingRecord)
      .find((x) => x.type === "ping");
    t.match(
      record,
      { state: "reply", sent: transmitted, received: transmitted },
      `${what}: as many as iputils`,
    );
  }
  const bad = await wireprobe(["--netns", node.ns, "-W", "soon", "198.51.100.11"]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /option -W needs a number of seconds/);
});

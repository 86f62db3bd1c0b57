// The NDP codec against a real IPv6 stack: a neighbour solicitation written by
// ndp.writeNeighborSolicitationFrame goes out of a PacketSocket in one lab namespace; the peer namespace's
// kernel (2001:db8::2, added with nodad) must answer with a neighbour advertisement that ndp.decode parses,
// and tcpdump -vv in the peer must print both with "[icmp6 sum ok]". Runs as root; lab namespaces only.

import t from "tap";
import { Lab } from "../src/lab";
import { META_STRIDE, native } from "../src/native/binding";
import { address, decodeFrame, ipv6Address, ndp } from "../src/packet";

const PROBER_IP = "2001:db8::1";
const PEER_IP = "2001:db8::2";
const ETH_P_IPV6 = 0x86dd;

t.test("a neighbour solicitation we write gets the peer kernel's advertisement", async (t) => {
  // As withLab, with IPv6 left on in the lab's namespaces.
  const lab = await Lab.create({ name: "ndp", ipv6: true });
  t.teardown(async () => {
    for (const err of await lab.destroy()) t.comment(`lab ${lab.prefix} teardown: ${err.message}`);
  });
  const lan = await lab.segment("lan");
  const prober = await lab.host("prober");
  const peer = await lab.host("peer");
  await prober.connect(lan);
  await peer.connect(lan);
  // nodad: usable at once; the prober gets no address at all (the frame is written by hand).
  await peer.ip(["-6", "addr", "add", `${PEER_IP}/64`, "dev", "eth0", "nodad"]);
  const peerMac = await peer.mac("eth0");
  const proberMac = await prober.mac("eth0");

  const dump = peer.spawn("tcpdump", [
    "-e",
    "-vv",
    "-nn",
    "-l",
    "-i",
    "eth0",
    "icmp6 and (ip6[40] == 135 or ip6[40] == 136)",
  ]);
  let dumpOut = "";
  let dumpErr = "";
  dump.stdout?.on("data", (d: Buffer) => {
    dumpOut += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${dumpErr}`)), 15_000);
    dump.stderr?.on("data", (d: Buffer) => {
      dumpErr += d.toString();
      if (dumpErr.includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });

  const link = native.listLinks(prober.nsPath).find((l) => l.name === "eth0");
  t.ok(link, "prober eth0");
  const sock = new native.PacketSocket({ ifindex: link!.index, protocol: ETH_P_IPV6, netns: prober.nsPath });
  t.teardown(() => sock.close());
  const frame = Buffer.alloc(86);
  const written = ndp.writeNeighborSolicitationFrame(
    frame,
    0,
    address.parseMac(proberMac),
    ipv6Address.parseIpv6(PROBER_IP).bytes,
    ipv6Address.parseIpv6(PEER_IP).bytes,
  );
  t.equal(written, 86);

  const answer = await new Promise<ReturnType<typeof decodeFrame>>((resolve, reject) => {
    const kick = setInterval(() => sock.send([frame]), 300);
    const timeout = setTimeout(() => {
      clearInterval(kick);
      sock.stopReceive();
      reject(new Error("no neighbour advertisement within 20 s"));
    }, 20_000);
    sock.startReceive((data, meta, count) => {
      for (let i = 0; i < count; i++) {
        const off = meta[i * META_STRIDE]!;
        const len = meta[i * META_STRIDE + 1]!;
        let d: ReturnType<typeof decodeFrame>;
        try {
          d = decodeFrame(data, { linkType: "ethernet", ipv6: true, offset: off, length: len });
        } catch {
          continue; // something else on the link (the kernels' own MLD or router solicitations)
        }
        if (d.ndp?.kind === "neighbor-advertisement" && d.ndp.target === PEER_IP) {
          clearInterval(kick);
          clearTimeout(timeout);
          sock.stopReceive();
          resolve(d);
          return;
        }
      }
    });
    sock.send([frame]);
  });

  t.match(answer.ethernet, { src: peerMac, dst: proberMac }, "unicast back to the MAC of our option");
  t.match(answer.ipv6, { src: PEER_IP, dst: PROBER_IP, hopLimit: 255 });
  t.match(answer.ndp, {
    kind: "neighbor-advertisement",
    target: PEER_IP,
    solicited: true,
    override: true,
    router: false,
    linkLayerAddress: peerMac,
  });

  // Let tcpdump print the advertisement, then stop it.
  const deadline = Date.now() + 10_000;
  while (!/neighbor advertisement/.test(dumpOut) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  dump.kill("SIGINT");
  t.comment(dumpOut.trim().split("\n").slice(0, 6).join("\n"));
  t.match(
    dumpOut,
    new RegExp(
      `${PROBER_IP} > ff02::1:ff00:2: \\[icmp6 sum ok\\] ICMP6, neighbor solicitation, length 32, who has ${PEER_IP}\\s+source link-address option \\(1\\), length 8 \\(1\\): ${proberMac}`,
    ),
    "tcpdump in the peer: our solicitation, checksum ok, to the solicited-node group, with our MAC",
  );
  t.match(dumpOut, new RegExp(`${PEER_IP} > ${PROBER_IP}: \\[icmp6 sum ok\\] ICMP6, neighbor advertisement`));
  t.match(
    dumpOut,
    `${proberMac} > 33:33:ff:00:00:02, ethertype IPv6 (0x86dd), length 86`,
    "to the solicited-node group's multicast MAC",
  );
  t.notMatch(dumpOut, /bad|wrong|incorrect/i, "no bad checksum");
});

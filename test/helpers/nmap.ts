// nmap as an oracle: run it in a lab namespace with XML on stdout and read the verdicts (ElementTree, as a
// consumer of nmap's XML would).

import type { Host } from "../../src/lab";

export interface NmapHost {
  addr: string;
  /** "up" or "down" */
  status: string;
  /** port number -> state and reason, e.g. { "22": { state: "open", reason: "syn-ack" } } */
  ports: Record<string, { state: string; reason: string }>;
}

const READ_XML = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
hosts = []
for h in root.findall("host"):
    ports = {}
    for p in h.findall("ports/port"):
        s = p.find("state")
        ports[p.get("portid")] = {"state": s.get("state"), "reason": s.get("reason")}
    for ex in h.findall("ports/extraports"):
        for er in ex.findall("extrareasons"):
            for part in er.get("ports").split(","):
                lo, _, hi = part.partition("-")
                for n in range(int(lo), int(hi or lo) + 1):
                    ports[str(n)] = {"state": ex.get("state"), "reason": er.get("reason")}
    hosts.append({"addr": h.find("address").get("addr"), "status": h.find("status").get("state"), "ports": ports})
print(json.dumps(hosts))
`;

/**
 * Runs `nmap -oX - -v ...args` in `host` (-v lists the hosts found down too) and returns every host of its
 * XML output by address.
 */
export async function nmapOracle(host: Host, args: readonly string[]): Promise<Map<string, NmapHost>> {
  const r = await host.exec("nmap", ["-oX", "-", "-v", ...args], { timeoutMs: 120_000 });
  const parsed = await host.exec("python3", ["-c", READ_XML], { input: r.stdout });
  const hosts = JSON.parse(parsed.stdout) as NmapHost[];
  return new Map(hosts.map((h) => [h.addr, h]));
}

import type { SummaryRecord } from "../records";

// What the nmap-format writers say about the run as a whole, besides the hosts.

export interface ScanReportMeta {
  /** the command line, for the header ("wireprobe scan -p 22 ...") */
  args: string;
  version: string;
  /** wall-clock start of the scan */
  start: Date;
  /** the scan's TCP ports, ascending */
  ports: Uint16Array;
  /** the scan's UDP ports, ascending (unset or empty without -sU) */
  udpPorts?: Uint16Array;
  /** the TCP method ("udp" when only UDP ports were scanned) */
  method: "syn" | "connect" | "udp";
  /** --open: list only open ports, and only hosts that have one */
  openOnly: boolean;
  /** undefined while the scan has not finished (it is then written as interrupted) */
  summary: SummaryRecord | undefined;
  /** wall-clock end */
  end: Date;
  /** one shard of a split scan: "I/N" and the seed all shards share (said in the header: the file is a part) */
  shard?: { shard: string; seed?: string };
}

/** The header's note that the file holds one share of a split scan ("" for a whole scan). */
export function shardNote(meta: ScanReportMeta): string {
  const s = meta.shard;
  if (s === undefined) return "";
  const count = s.shard.split("/")[1];
  return `wireprobe shard ${s.shard}${s.seed === undefined ? "" : ` (seed ${s.seed})`}: this file holds one share of the scan; the ${count} shards' files together hold all of it`;
}

/** nmap's date format: "Thu Nov 26 02:50:02 2026" (ctime without the newline), in local time. */
export function ctime(d: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const two = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** "5 IP addresses (4 hosts up) scanned in 3.77 seconds", nmap's closing sentence. */
export function doneSentence(addresses: number, up: number, seconds: number): string {
  return `${addresses} IP address${addresses === 1 ? "" : "es"} (${up} host${up === 1 ? "" : "s"} up) scanned in ${seconds.toFixed(2)} seconds`;
}

/** Down reasons in nmap's vocabulary (its reason names), for the XML host status. */
export function nmapDownReason(reason: string): string {
  if (reason === "no-route") return "no-route";
  if (reason === "prohibit") return "admin-prohibited";
  if (reason === "unreachable") return "host-unreach";
  return "no-response";
}

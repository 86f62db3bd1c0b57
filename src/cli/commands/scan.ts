import { readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { splitTargetList } from "../../addr/resolve";
import { readBatches } from "../../engine/probe-run";
import { formatShard, parseShard } from "../../engine/shard";
import { UsageError } from "../../errors";
import { drained, NdjsonWriter, safeWrite } from "../../output/ndjson";
import { nmapGrepable } from "../../output/nmap-grepable";
import type { ScanReportMeta } from "../../output/nmap-meta";
import {
  type OutputFile,
  type OutputPlan,
  type OutputRequest,
  openOutputs,
  planOutputs,
} from "../../output/output-file";
import { startProgress } from "../../output/scan-progress";
import { scanReport } from "../../output/scan-report";
import { ScanStore } from "../../output/scan-store";
import { SCAN_DEFAULTS, type ScanOptions, type ScanRun, scan } from "../../probes/scan/scan";
import { ADAPTIVE_MIN_RATE } from "../../probes/syn/syn-scan";
import type { SummaryRecord } from "../../records";
import {
  formatOptions,
  getFlag,
  getNumber,
  getString,
  ipv6CapOption,
  NETNS_OPTION,
  type OptionSpec,
  type ParsedArgs,
} from "../args";
import type { Command, CommandContext } from "../command";

const options: OptionSpec[] = [
  {
    name: "ports",
    aliases: ["-p"],
    kind: "string",
    valueName: "PORTS",
    help: "22,80,8000-8100, service names and masks (ssh,http*), T:80,U:53 per protocol; - for 1-65535 (default: nmap's top 1000)",
  },
  {
    name: "top-ports",
    kind: "integer",
    min: 1,
    max: 65535,
    valueName: "N",
    help: "the N most often open ports (nmap's list)",
  },
  {
    name: "input-list",
    aliases: ["-iL"],
    kind: "string",
    valueName: "FILE",
    help: "targets from a file, - for stdin ('#' comments)",
  },
  {
    name: "exclude",
    kind: "string",
    repeat: true,
    valueName: "LIST",
    help: "comma-separated targets not to scan",
  },
  { name: "excludefile", kind: "string", valueName: "FILE", help: "targets not to scan, from a file" },
  ipv6CapOption("; also in -iL"),
  {
    name: "interface",
    aliases: ["-i", "-e"],
    kind: "string",
    valueName: "NAME",
    help: "send from this interface (default: per the routing table)",
  },
  NETNS_OPTION,
  {
    name: "rate",
    aliases: ["--max-rate"],
    kind: "integer",
    min: 0,
    max: 100_000_000,
    valueName: "PPS",
    help: "the most packets per second (default: adaptive, no ceiling); 0 = unlimited, no adaptation",
  },
  {
    name: "retries",
    aliases: ["--max-retries"],
    kind: "integer",
    min: 0,
    max: 100,
    valueName: "N",
    help: `extra probes for ports without an answer (default ${SCAN_DEFAULTS.retries}; UDP: up to 10, as nmap)`,
  },
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 3_600_000,
    valueName: "MS",
    help: `longest wait for each probe's answer; per target it adapts to the round trips like nmap's (default ${SCAN_DEFAULTS.timeoutMs})`,
  },
  {
    name: "source-port",
    aliases: ["-g"],
    kind: "integer",
    min: 1,
    max: 65535,
    valueName: "N",
    help: "TCP source port (default: random)",
  },
  {
    name: "seed",
    kind: "string",
    valueName: "N",
    help: "fix the probe order (0 to 2^64-1); the same for every shard of a split scan",
  },
  {
    name: "shard",
    kind: "string",
    valueName: "I/N",
    help: "probe share I (0 to N-1) of the scan split N ways (needs --seed when N > 1)",
  },
  { name: "syn", aliases: ["-sS"], kind: "flag", help: "SYN scan (the default; fails without CAP_NET_RAW)" },
  {
    name: "connect",
    aliases: ["-sT"],
    kind: "flag",
    help: "TCP connect scan (chosen automatically without CAP_NET_RAW)",
  },
  {
    name: "udp",
    aliases: ["-sU"],
    kind: "flag",
    help: "UDP scan (needs CAP_NET_RAW); with -sS or -sT both, TCP first",
  },
  { name: "ipv6", aliases: ["-6"], kind: "flag", help: "accepted: the family comes from each target" },
  { name: "no-ping", aliases: ["-Pn"], kind: "flag", help: "accepted: no host discovery is done anyway" },
  { name: "no-dns", aliases: ["-n"], kind: "flag", help: "accepted: no reverse DNS is done anyway" },
  { name: "reason", kind: "flag", help: "accepted: reasons are always given" },
  { name: "open", kind: "flag", help: "only show open ports (and hosts that have one)" },
  { name: "json", kind: "flag", help: "one JSON record per line on stdout, then a summary" },
  {
    name: "grepable",
    aliases: ["-oG"],
    kind: "string",
    valueName: "FILE",
    help: "nmap grepable output to FILE (- for stdout)",
  },
  {
    name: "xml",
    aliases: ["-oX"],
    kind: "string",
    valueName: "FILE",
    help: "nmap XML output to FILE (- for stdout)",
  },
  {
    name: "ndjson",
    aliases: ["-oJ"],
    kind: "string",
    valueName: "FILE",
    help: "the JSON records to FILE (- for stdout)",
  },
  {
    name: "all-formats",
    aliases: ["-oA"],
    kind: "string",
    valueName: "BASE",
    help: "BASE.xml, BASE.gnmap and BASE.json",
  },
  {
    name: "expect",
    kind: "string",
    valueName: "STATE",
    help: "open, closed, filtered or open|filtered: exit 1 when any port is in another state (or a host is down)",
  },
];

const VERSION: string = (require("../../../package.json") as { version: string }).version;

const usage = `Usage: wireprobe scan [options] TARGET...

TCP SYN scan with nmap's verdicts: per target and port, open (SYN-ACK), closed (RST) or
filtered (no answer, or an ICMP error); a target whose next hop does not answer ARP (NDP for
IPv6) is down.
-sU scans UDP ports as nmap -sU: open (a UDP answer), closed (ICMP port unreachable),
filtered (another ICMP unreachable) or open|filtered (no answer after every retry).

  TARGET   IPv4 or IPv6 address, CIDR (2001:db8::/120), nmap-style range (198.51.100.10-20,
           198.51.100-101.1-5) or hostname (resolved once, in wireprobe's own namespace even
           with --netns); both families may be mixed (an IPv6 SYN scan goes over
           Ethernet links only, -sT over any)

Options:
${formatOptions(options)}

The pace adapts as nmap's does: the probes in flight grow with the answers and are cut when
packets are lost, with at least ${ADAPTIVE_MIN_RATE} probes/s while nothing answers (a silent /16 takes about
a minute per port); --rate N keeps that under N packets/s, --rate 0 sends as fast as the
interface takes them. The summary says how ("pacing") and at what rate. Without CAP_NET_RAW the
scan falls back to TCP connects (-sT), says so on stderr and marks the summary "method":"connect".

Split a big scan as zmap does: run it N times with --shard 0/N .. --shard N-1/N and one --seed S
(same targets and ports): each run probes its own block of the seeded random order, so the
shares are disjoint, their union is the whole scan, and each is spread over every target.

Exit codes: 0 scan completed, 1 --expect not met, 2 bad usage, 3 missing privilege or environment.`;

/** nmap allows a value glued to -p ("-p22,80", "-p-"): split it off. */
function normaliseArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    const m = /^-p(.+)$/.exec(a);
    if (m) out.push("-p", m[1]!);
    else out.push(a);
  }
  return out;
}

function readList(file: string, what: string): string[] {
  try {
    return splitTargetList(readFileSync(file === "-" ? 0 : file, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

/** Bytes written before waiting for the output to take them: the next text is made while the kernel drains. */
const WRITE_AHEAD = 1 << 20;

/**
 * Writes the pieces in 64 KiB writes (a write per host would cost more than making the text), waiting for
 * the output only once a MiB is under way: a pipe's reader takes the text while the rest is made.
 */
async function writeChunks(out: Writable, pieces: Iterable<string>): Promise<void> {
  let buffered = "";
  for (const piece of pieces) {
    buffered += piece;
    if (buffered.length < 65536) continue;
    safeWrite(out, buffered);
    buffered = "";
    if (out.writableLength >= WRITE_AHEAD) await drained(out);
  }
  if (buffered !== "") safeWrite(out, buffered);
  await drained(out);
}

/** Commits every file, all of them even when one fails; then throws the first failure. */
async function commitAll(files: readonly OutputFile[]): Promise<void> {
  let first: unknown = null;
  for (const f of files) {
    try {
      await f.commit();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== null) throw first;
}

export const scanCommand: Command = {
  name: "scan",
  usage,
  options,
  normalise: normaliseArgv,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    const targets = [...args.positionals];
    const inputList = getString(args, "input-list");
    if (inputList !== undefined) targets.push(...readList(inputList, "the target list"));
    if (targets.length === 0) throw new UsageError("scan needs at least one TARGET or -iL FILE (see --help)");
    const exclude = ((args.options.get("exclude") as string[] | undefined) ?? []).flatMap((l) =>
      l.split(",").filter(Boolean),
    );
    const excludeFile = getString(args, "excludefile");
    if (excludeFile !== undefined) exclude.push(...readList(excludeFile, "the exclude list"));
    if (getFlag(args, "syn") && getFlag(args, "connect"))
      throw new UsageError("-sS and -sT exclude each other");
    const expect = getString(args, "expect");
    if (expect !== undefined && !["open", "closed", "filtered", "open|filtered"].includes(expect)) {
      throw new UsageError(`--expect takes open, closed, filtered or open|filtered, not "${expect}"`);
    }
    const udp = getFlag(args, "udp");
    const tcp = !udp || getFlag(args, "syn") || getFlag(args, "connect");
    const portSpec = getString(args, "ports");
    const top = getNumber(args, "top-ports");
    if (portSpec !== undefined && top !== undefined)
      throw new UsageError("-p and --top-ports exclude each other");

    const requests: OutputRequest[] = [];
    const base = getString(args, "all-formats");
    if (base !== undefined) {
      if (["xml", "grepable", "ndjson"].some((o) => args.options.has(o))) {
        throw new UsageError("-oA cannot be combined with -oX, -oG or -oJ");
      }
      requests.push(
        { option: "-oA", path: `${base}.json` },
        { option: "-oA", path: `${base}.xml` },
        { option: "-oA", path: `${base}.gnmap` },
      );
    } else {
      for (const [name, option] of [
        ["ndjson", "-oJ"],
        ["xml", "-oX"],
        ["grepable", "-oG"],
      ] as const) {
        const path = getString(args, name);
        if (path !== undefined) requests.push({ option, path });
      }
    }
    // Every output is checked before anything is sent: a bad path is found now, not after the scan.
    const planned = planOutputs(requests);
    const planOf = (option: string, i: number) =>
      base !== undefined ? planned[i] : planned.find((p) => p.option === option);
    const json = getFlag(args, "json");
    const toStdout = (json ? 1 : 0) + planned.filter((p) => p.how === "stdout").length;
    if (toStdout > 1) throw new UsageError("only one output can go to stdout");
    const openOnly = getFlag(args, "open");

    const seedText = getString(args, "seed");
    if (seedText !== undefined && !/^\d{1,20}$/.test(seedText))
      throw new UsageError(`--seed takes a whole number from 0 to 2^64-1, not "${seedText}"`);
    const shardText = getString(args, "shard");
    const shard = shardText === undefined ? undefined : parseShard(shardText);
    if (shard !== undefined && shard.count > 1 && seedText === undefined)
      throw new UsageError(`--shard ${shardText} needs --seed N, the same for every shard`);

    const scanOptions: ScanOptions = {
      ...(portSpec !== undefined ? { ports: portSpec } : top !== undefined ? { topPorts: top } : {}),
      protocols: tcp && udp ? ["tcp", "udp"] : udp ? ["udp"] : ["tcp"],
      ...(exclude.length > 0 ? { exclude } : {}),
      ...opt("netns", getString(args, "netns")),
      ...opt("interface", getString(args, "interface")),
      ...opt("rate", getNumber(args, "rate")),
      ...opt("retries", getNumber(args, "retries")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("sourcePort", getNumber(args, "source-port")),
      ...opt("ipv6Cap", getNumber(args, "ipv6-cap")),
      ...opt("seed", seedText === undefined ? undefined : BigInt(seedText)),
      ...opt("shard", shard),
      method: getFlag(args, "connect") ? "connect" : getFlag(args, "syn") ? "syn" : "auto",
      signal: ctx.signal,
      onNotice: (message) => ctx.stderr.write(`wireprobe: ${message}\n`),
    };
    const run = scan(targets, scanOptions);
    const start = new Date();

    // Files are opened (temporary files created, FIFOs waited for) only now that every option is known good.
    const filePlans = planned.filter((p) => p.how !== "stdout");
    const files = await openOutputs(filePlans);
    const sink = (plan: OutputPlan | undefined): Sink | null => {
      if (plan === undefined) return null;
      if (plan.how === "stdout") return { out: ctx.stdout, file: null };
      const file = files[filePlans.indexOf(plan)]!;
      return { out: file.stream, file };
    };
    try {
      return await scanInto(ctx, run, {
        ndjson: sink(planOf("-oJ", 0)),
        xml: sink(planOf("-oX", 1)),
        grep: sink(planOf("-oG", 2)),
        json,
        human: toStdout === 0,
        openOnly,
        expect,
        start,
        shard:
          shard === undefined
            ? undefined
            : { shard: formatShard(shard), ...(seedText === undefined ? {} : { seed: seedText }) },
      });
    } finally {
      // No-ops after a commit; otherwise the temporary files go and the paths are left as they were.
      for (const f of files) f.discard();
    }
  },
};

/** Where one output goes: stdout, or a file committed when complete. */
interface Sink {
  out: Writable;
  file: OutputFile | null;
}

interface ScanOutputs {
  ndjson: Sink | null;
  xml: Sink | null;
  grep: Sink | null;
  /** NDJSON on stdout */
  json: boolean;
  /** the human report on stdout */
  human: boolean;
  openOnly: boolean;
  expect: string | undefined;
  start: Date;
  /** --shard I/N and its --seed, for the nmap formats' header */
  shard: { shard: string; seed?: string } | undefined;
}

/**
 * Runs the scan into its outputs and resolves to the exit code. NDJSON streams as records arrive; the nmap
 * formats and the report are written when the scan ends, also when it is interrupted or stdout closes.
 */
async function scanInto(ctx: CommandContext, run: ScanRun, o: ScanOutputs): Promise<number> {
  const { json, human, openOnly, expect } = o;
  const streams: NdjsonWriter[] = [];
  if (json) streams.push(new NdjsonWriter(ctx.stdout));
  if (o.ndjson) streams.push(new NdjsonWriter(o.ndjson.out));
  const store = human || o.xml || o.grep ? new ScanStore(run.ports, run.udpPorts) : null;
  const progress = (ctx.stderr as { isTTY?: boolean }).isTTY
    ? startProgress(ctx.stderr, () => run.progress)
    : null;

  let unmet = false;
  let failure: unknown = null;
  try {
    for await (const batch of readBatches(run)) {
      for (const r of batch) {
        if (expect !== undefined && (r.type === "host" || r.state !== expect)) unmet = true;
        store?.add(r);
        if (openOnly && r.type === "port" && r.state !== "open") continue;
        for (const w of streams) w.write(r);
      }
      for (const w of streams) await w.drained();
    }
  } catch (err) {
    failure = err;
  } finally {
    progress?.stop();
  }
  const summary: SummaryRecord | undefined = run.summary;
  if (failure !== null && (summary === undefined || run.progress.probesSent === 0)) {
    // It failed before anything was sent (bad target or interface, no privilege): only the error, no
    // summary, no report and no output files.
    throw failure;
  }
  // Everything below runs for a finished, an interrupted and a failed scan alike: what was found is kept.
  for (const w of streams) {
    if (summary) w.write(summary);
    w.flush();
    await w.drained();
  }
  if (store) {
    const meta: ScanReportMeta = {
      args: ["wireprobe", "scan", ...ctx.argv].map(quoteArg).join(" "),
      version: VERSION,
      start: o.start,
      end: new Date(),
      ports: run.ports,
      udpPorts: run.udpPorts,
      method: run.method ?? "syn",
      openOnly,
      summary,
      ...(o.shard === undefined ? {} : { shard: o.shard }),
    };
    if (o.xml) {
      const { nmapXml } = require("../../output/nmap-xml") as typeof import("../../output/nmap-xml");
      await writeChunks(o.xml.out, nmapXml(store, meta));
    }
    if (o.grep) await writeChunks(o.grep.out, nmapGrepable(store, meta));
    if (human) await writeChunks(ctx.stdout, scanReport(store, summary, openOnly));
  }
  // Renamed into place only when complete: a reader never sees half a file.
  await commitAll([o.ndjson?.file, o.xml?.file, o.grep?.file].filter((f): f is OutputFile => f != null));
  if (failure !== null) throw failure;
  return unmet ? 1 : 0;
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

import { once } from "node:events";
import { createWriteStream, readFileSync, renameSync, unlinkSync, type WriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { UsageError } from "../../errors";
import { NdjsonWriter } from "../../output/ndjson";
import { nmapGrepable } from "../../output/nmap-grepable";
import type { ScanReportMeta } from "../../output/nmap-meta";
import { nmapXml } from "../../output/nmap-xml";
import { startProgress } from "../../output/scan-progress";
import { scanReport } from "../../output/scan-report";
import { ScanStore } from "../../output/scan-store";
import { SCAN_DEFAULTS, type ScanOptions, scan } from "../../probe/scan";
import type { SummaryRecord } from "../../records";
import { topPorts } from "../../scan/ports";
import { splitTargetList } from "../../scan/targets";
import {
  formatOptions,
  getFlag,
  getNumber,
  getString,
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
    help: "22,80,8000-8100; - for 1-65535 (default: nmap's top 1000)",
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
    help: `packets per second, 0 = unlimited (default ${SCAN_DEFAULTS.rate})`,
  },
  {
    name: "retries",
    aliases: ["--max-retries"],
    kind: "integer",
    min: 0,
    max: 100,
    valueName: "N",
    help: `extra probes for ports without an answer (default ${SCAN_DEFAULTS.retries})`,
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
  { name: "syn", aliases: ["-sS"], kind: "flag", help: "SYN scan (the default; fails without CAP_NET_RAW)" },
  {
    name: "connect",
    aliases: ["-sT"],
    kind: "flag",
    help: "TCP connect scan (chosen automatically without CAP_NET_RAW)",
  },
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
    help: "open, closed or filtered: exit 1 when any port is in another state (or a host is down)",
  },
];

const VERSION: string = (require("../../../package.json") as { version: string }).version;

const usage = `Usage: wireprobe scan [options] TARGET...

TCP SYN scan with nmap's verdicts: per target and port, open (SYN-ACK), closed (RST) or
filtered (no answer, or an ICMP error); a target whose next hop does not answer ARP is down.

  TARGET   IPv4 address, CIDR, nmap-style range (198.51.100.10-20, 198.51.100-101.1-5) or
           hostname (resolved once, in wireprobe's own namespace even with --netns)

Options:
${formatOptions(options)}

The default rate, ${SCAN_DEFAULTS.rate} packets/s (about 6 Mbit/s of SYNs), is zmap's default: gentle on a
shared network. Raise it (or 0 for unlimited) on links you own. Without CAP_NET_RAW the scan
falls back to TCP connects (-sT), says so on stderr and marks the summary "method":"connect".

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

interface Sink {
  out: Writable;
  file: string | null;
  tmp: string | null;
}

function openSink(target: string, stdout: Writable): Sink {
  if (target === "-") return { out: stdout, file: null, tmp: null };
  const tmp = `${target}.tmp-${process.pid}`;
  let stream: WriteStream;
  try {
    stream = createWriteStream(tmp, { flags: "w" });
  } catch (err) {
    throw new UsageError(`cannot write ${target}: ${(err as Error).message}`);
  }
  return { out: stream, file: target, tmp };
}

/** Writes the pieces in 64 KiB writes (a write per host would cost more than making the text). */
async function writeChunks(out: Writable, pieces: Iterable<string>): Promise<void> {
  let buffered = "";
  for (const piece of pieces) {
    buffered += piece;
    if (buffered.length < 65536) continue;
    if (!out.write(buffered)) await once(out, "drain");
    buffered = "";
  }
  if (buffered !== "" && !out.write(buffered)) await once(out, "drain");
}

async function writeAll(sink: Sink, pieces: Iterable<string>): Promise<void> {
  await writeChunks(sink.out, pieces);
  await closeSink(sink);
}

async function closeSink(sink: Sink): Promise<void> {
  if (sink.file === null) return;
  const stream = sink.out as WriteStream;
  stream.end();
  await once(stream, "close");
  // Renamed into place only when complete: a reader never sees half a file.
  renameSync(sink.tmp!, sink.file);
}

async function failOpen(sink: Sink): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = sink.out as WriteStream;
    s.once("open", () => resolve());
    s.once("error", (err) => reject(new UsageError(`cannot write ${sink.file}: ${err.message}`)));
  });
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
    if (expect !== undefined && !["open", "closed", "filtered"].includes(expect)) {
      throw new UsageError(`--expect takes open, closed or filtered, not "${expect}"`);
    }
    const portSpec = getString(args, "ports");
    const top = getNumber(args, "top-ports");
    if (portSpec !== undefined && top !== undefined)
      throw new UsageError("-p and --top-ports exclude each other");

    let xmlTarget = getString(args, "xml");
    let grepTarget = getString(args, "grepable");
    let ndjsonTarget = getString(args, "ndjson");
    const base = getString(args, "all-formats");
    if (base !== undefined) {
      if (xmlTarget !== undefined || grepTarget !== undefined || ndjsonTarget !== undefined) {
        throw new UsageError("-oA cannot be combined with -oX, -oG or -oJ");
      }
      xmlTarget = `${base}.xml`;
      grepTarget = `${base}.gnmap`;
      ndjsonTarget = `${base}.json`;
    }
    const json = getFlag(args, "json");
    const toStdout = [json, xmlTarget === "-", grepTarget === "-", ndjsonTarget === "-"].filter(
      Boolean,
    ).length;
    if (toStdout > 1) throw new UsageError("only one output can go to stdout");
    const human = toStdout === 0;
    const openOnly = getFlag(args, "open");

    const scanOptions: ScanOptions = {
      ...(portSpec !== undefined
        ? { ports: portSpec }
        : top !== undefined
          ? { ports: [...topPorts(top)] }
          : {}),
      ...(exclude.length > 0 ? { exclude } : {}),
      ...opt("netns", getString(args, "netns")),
      ...opt("interface", getString(args, "interface")),
      ...opt("rate", getNumber(args, "rate")),
      ...opt("retries", getNumber(args, "retries")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("sourcePort", getNumber(args, "source-port")),
      method: getFlag(args, "connect") ? "connect" : getFlag(args, "syn") ? "syn" : "auto",
      signal: ctx.signal,
      onNotice: (message) => ctx.stderr.write(`wireprobe: ${message}\n`),
    };
    const run = scan(targets, scanOptions);
    const start = new Date();

    // Sinks: NDJSON streams as records arrive; the nmap formats are written when the scan ends (also when
    // it is interrupted), into a temporary file renamed into place.
    const ndjsonSink = ndjsonTarget !== undefined ? openSink(ndjsonTarget, ctx.stdout) : null;
    const xmlSink = xmlTarget !== undefined ? openSink(xmlTarget, ctx.stdout) : null;
    const grepSink = grepTarget !== undefined ? openSink(grepTarget, ctx.stdout) : null;
    const sinks = [ndjsonSink, xmlSink, grepSink].filter((s): s is Sink => s !== null);
    try {
      await Promise.all(sinks.filter((s) => s.file !== null).map(failOpen));
    } catch (err) {
      for (const s of sinks) if (s.file !== null) (s.out as WriteStream).destroy();
      for (const s of sinks) if (s.tmp !== null) safeUnlink(s.tmp);
      throw err;
    }
    const streams: NdjsonWriter[] = [];
    if (json) streams.push(new NdjsonWriter(ctx.stdout));
    if (ndjsonSink) streams.push(new NdjsonWriter(ndjsonSink.out));
    const store = human || xmlSink || grepSink ? new ScanStore(run.ports) : null;
    const progress = (ctx.stderr as { isTTY?: boolean }).isTTY
      ? startProgress(ctx.stderr, () => run.progress)
      : null;

    let unmet = false;
    let failure: unknown = null;
    try {
      for await (const r of run) {
        if (expect !== undefined && (r.type === "host" || r.state !== expect)) unmet = true;
        store?.add(r);
        if (openOnly && r.type === "port" && r.state !== "open") continue;
        for (const w of streams) w.write(r);
        for (const w of streams) await w.drained();
      }
    } catch (err) {
      failure = err;
    } finally {
      progress?.stop();
    }
    const summary: SummaryRecord | undefined = run.summary;
    if (failure !== null && summary === undefined) {
      // It failed before scanning (bad target, no privilege): no output files at all.
      for (const s of sinks) if (s.file !== null) (s.out as WriteStream).destroy();
      for (const s of sinks) if (s.tmp !== null) safeUnlink(s.tmp);
      throw failure;
    }
    // Everything below runs for a finished, an interrupted and a failed scan alike: what was found is kept.
    for (const w of streams) {
      if (summary) w.write(summary);
      w.flush();
      await w.drained();
    }
    if (ndjsonSink) await closeSink(ndjsonSink);
    if (store) {
      const meta: ScanReportMeta = {
        args: ["wireprobe", "scan", ...ctx.argv].map(quoteArg).join(" "),
        version: VERSION,
        start,
        end: new Date(),
        ports: run.ports,
        method: run.method ?? "syn",
        openOnly,
        summary,
      };
      if (xmlSink) await writeAll(xmlSink, nmapXml(store, meta));
      if (grepSink) await writeAll(grepSink, nmapGrepable(store, meta));
      if (human) await writeChunks(ctx.stdout, scanReport(store, summary, openOnly));
    }
    if (failure !== null) throw failure;
    return unmet ? 1 : 0;
  },
};

function safeUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

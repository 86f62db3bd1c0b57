import { parseIp } from "../../addr/ip";
import { UsageError } from "../../errors";
import { formatDnsRaceReport, raceLost } from "../../output/dns-race-report";
import { formatDnsReport } from "../../output/dns-report";
import { DNS_DEFAULTS, dns } from "../../probes/dns/dns";
import { dnsRace, RACE_DEFAULTS, RACE_MAX_PAIRS } from "../../probes/dns/race";
import type { DnsConsistencyRecord, DnsRecord } from "../../records";
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
import { consume } from "../consume";
import { opt } from "../lists";

const options: OptionSpec[] = [
  {
    name: "server",
    kind: "string",
    repeat: true,
    valueName: "IP[,IP...]",
    help: "servers to ask, IPv4 or IPv6 (default: the nameservers of the namespace's resolv.conf, see --resolv-conf)",
  },
  {
    name: "resolv-conf",
    kind: "string",
    valueName: "FILE",
    help: "take the servers from this file (e.g. a container's /proc/PID/root/etc/resolv.conf)",
  },
  {
    name: "type",
    aliases: ["-t"],
    kind: "string",
    valueName: "TYPE[,TYPE...]",
    help: "A, AAAA, CNAME, SRV, PTR, MX, TXT, NS or SOA (default A); PTR takes an address too",
  },
  { name: "tcp", kind: "flag", help: "ask over TCP instead of UDP" },
  {
    name: "both",
    kind: "flag",
    help: "ask over UDP and over TCP: a server answering on one only is a finding",
  },
  {
    name: "port",
    aliases: ["-p"],
    kind: "integer",
    min: 1,
    max: 65535,
    valueName: "N",
    help: `server port (default ${DNS_DEFAULTS.port})`,
  },
  {
    name: "timeout",
    kind: "integer",
    min: 1,
    max: 600000,
    valueName: "MS",
    help: `wait per attempt (default ${DNS_DEFAULTS.timeoutMs})`,
  },
  {
    name: "retries",
    kind: "integer",
    min: 0,
    max: 100,
    valueName: "N",
    help: `extra attempts after a timeout (default ${DNS_DEFAULTS.retries})`,
  },
  {
    name: "concurrency",
    kind: "integer",
    min: 1,
    max: 65535,
    valueName: "N",
    help: `queries in flight per server (default ${DNS_DEFAULTS.concurrency}; TCP at most 8 connections)`,
  },
  { name: "no-edns", kind: "flag", help: "send plain DNS without an EDNS OPT record" },
  {
    name: "interface",
    aliases: ["-i"],
    kind: "string",
    valueName: "IFACE",
    help: "send out of this interface (SO_BINDTODEVICE)",
  },
  {
    name: "race",
    kind: "integer",
    min: 1,
    max: RACE_MAX_PAIRS,
    valueName: "N",
    help: "the 5-second race: N A/AAAA pairs sent as glibc sends them (one socket) and N from two sockets",
  },
  {
    name: "race-interval",
    kind: "integer",
    min: 1,
    max: 60000,
    valueName: "MS",
    help: `with --race: ms from one pair to the next to a server (default ${RACE_DEFAULTS.intervalMs})`,
  },
  NETNS_OPTION,
  { name: "json", kind: "flag", help: "one JSON record per line on stdout, then a summary" },
];

const usage = `Usage: wireprobe dns [options] NAME...
       wireprobe dns --race N [options] [SERVER...] NAME

Which DNS server answers, how, and do they agree? Asks every server for every NAME and reports
per server: ok (with rcode and answers, as dig +short prints them), refused (ICMP port
unreachable: nothing listens), unreachable (ICMP host/net unreachable, or no route), timeout,
or error (malformed or mismatched answers). With several servers it says whether they agree
and names the odd one out. Truncated UDP answers are asked again over TCP.

  NAME   a domain name, taken as absolute (no search list); with --type PTR also an address

With --race N, the 5-second DNS race (kubernetes/kubernetes#56903): sends N pairs of A and AAAA
queries for NAME as glibc does (one socket, so one source port; one sendmmsg, the A first and the
AAAA right after) and N pairs from two sockets (two source ports) as the control, interleaved, and
reports the loss of each kind per server. Loss only (or significantly more) in the same-socket pairs
is the conntrack race on the way to a DNATed DNS Service. SERVERs (addresses) may be given before
NAME, with --server, or taken from resolv.conf, as glibc takes them. Queries are glibc's: no EDNS,
not retried; --timeout is how long a pair waits (glibc waits 5000 ms).

Options:
${formatOptions(options)}

Exit codes: 0 every server answered NOERROR and all agree (--race: every pair of every server was
answered), 1 otherwise (no answer, NXDOMAIN, SERVFAIL, disagreement; --race: a lost query), 2 bad usage,
3 missing privilege or environment.`;

export const dnsCommand: Command = {
  name: "dns",
  usage,
  options,
  async run(ctx: CommandContext, args: ParsedArgs): Promise<number> {
    const serverArgs = (args.options.get("server") as string[] | undefined) ?? [];
    const servers = serverArgs.flatMap((s) => s.split(",")).filter((s) => s !== "");
    if (serverArgs.length > 0 && servers.length === 0) throw new UsageError("--server needs an address");
    const json = getFlag(args, "json");
    if (getNumber(args, "race") !== undefined) return race(ctx, args, servers, json);
    if (getNumber(args, "race-interval") !== undefined)
      throw new UsageError("--race-interval needs --race N");
    if (args.positionals.length === 0) throw new UsageError("dns needs at least one NAME (see --help)");
    const run = dns(args.positionals, {
      ...(servers.length > 0 ? { servers } : {}),
      ...opt("resolvConf", getString(args, "resolv-conf")),
      ...opt("qtype", getString(args, "type")),
      ...opt("port", getNumber(args, "port")),
      ...opt("timeoutMs", getNumber(args, "timeout")),
      ...opt("retries", getNumber(args, "retries")),
      ...opt("concurrency", getNumber(args, "concurrency")),
      ...opt("interface", getString(args, "interface")),
      ...opt("netns", getString(args, "netns")),
      tcp: getFlag(args, "tcp"),
      both: getFlag(args, "both"),
      edns: !getFlag(args, "no-edns"),
      signal: ctx.signal,
      onWarning: (message) => ctx.stderr.write(`wireprobe: warning: ${message}\n`),
    });
    let failed = 0;
    const all = await consume(run, ctx.stdout, {
      json,
      onRecord: (r) => {
        if (r.type === "dns" ? r.status !== "ok" || r.rcode !== "NOERROR" : !r.consistent) failed++;
      },
    });
    if (!json) {
      const records = all.filter((r): r is DnsRecord => r.type === "dns");
      const consistency = all.filter((r): r is DnsConsistencyRecord => r.type === "dns-consistency");
      ctx.stdout.write(`${formatDnsReport(records, consistency, run.summary)}\n`);
    }
    return failed === 0 && !run.summary?.aborted ? 0 : 1;
  },
};

/** Options that mean nothing to the race: it sends glibc's queries (A and AAAA, UDP, no EDNS, no retry). */
const NOT_WITH_RACE = ["tcp", "both", "type", "no-edns", "retries", "concurrency"] as const;

/** `dns --race N [SERVER...] NAME`: the 5-second race, one record per server. */
async function race(
  ctx: CommandContext,
  args: ParsedArgs,
  servers: string[],
  json: boolean,
): Promise<number> {
  for (const name of NOT_WITH_RACE) {
    if (args.options.has(name))
      throw new UsageError(`--${name} does not go with --race (it sends glibc's A/AAAA pairs over UDP)`);
  }
  // Addresses before the NAME are servers (a name to look up A/AAAA for is never an address).
  const names = args.positionals.filter((p) => parseIp(p) === null);
  servers.push(...args.positionals.filter((p) => parseIp(p) !== null));
  if (names.length === 0) throw new UsageError("dns --race needs the NAME to look up (see --help)");
  if (names.length > 1)
    throw new UsageError(`dns --race looks up one NAME, got ${names.length} (${names.join(", ")})`);
  const run = dnsRace(names[0]!, {
    pairs: getNumber(args, "race")!,
    ...(servers.length > 0 ? { servers } : {}),
    ...opt("resolvConf", getString(args, "resolv-conf")),
    ...opt("port", getNumber(args, "port")),
    ...opt("timeoutMs", getNumber(args, "timeout")),
    ...opt("intervalMs", getNumber(args, "race-interval")),
    ...opt("interface", getString(args, "interface")),
    ...opt("netns", getString(args, "netns")),
    signal: ctx.signal,
    onWarning: (message) => ctx.stderr.write(`wireprobe: warning: ${message}\n`),
  });
  let failed = 0;
  const all = await consume(run, ctx.stdout, {
    json,
    onRecord: (r) => {
      if (raceLost(r)) failed++;
    },
  });
  if (!json) ctx.stdout.write(`${formatDnsRaceReport(all, run.summary)}\n`);
  return failed === 0 && !run.summary?.aborted ? 0 : 1;
}

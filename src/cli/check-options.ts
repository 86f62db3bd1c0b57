import { DEFAULT_DNS_NAMES } from "../check/check";
import type { OptionSpec } from "./args";

// The options `check` and `agent` share: what to check (nodePorts, DNS servers and names, outside
// addresses) and how to probe it. One definition, so that the agent takes them exactly as check does.

export const NODE_PORT_OPTION: OptionSpec = {
  name: "node-port",
  kind: "string",
  repeat: true,
  valueName: "PORT[/udp],...",
  help: "nodePorts that must answer on every node: 30000, 30053/udp, 30000/tcp/ipv4 (one family only)",
};

export const DNS_SERVERS_OPTION: OptionSpec = {
  name: "dns",
  kind: "string",
  repeat: true,
  valueName: "IP[,IP...]",
  help: "cluster DNS servers, IPv4 or IPv6 (default: the namespace's resolv.conf)",
};

export const DNS_NAME_OPTION: OptionSpec = {
  name: "dns-name",
  kind: "string",
  repeat: true,
  valueName: "NAME",
  help: `names to ask every server (default ${DEFAULT_DNS_NAMES[0]})`,
};

export const EXTERNAL_OPTION: OptionSpec = {
  name: "external",
  kind: "string",
  repeat: true,
  valueName: "IP[,IP...]",
  help: 'outside addresses to ping, to tell "network up, DNS down" apart',
};

export const INTERFACE_OPTION: OptionSpec = {
  name: "interface",
  aliases: ["-i"],
  kind: "string",
  valueName: "NAME",
  help: "send from this interface",
};

export const RESOLV_CONF_OPTION: OptionSpec = {
  name: "resolv-conf",
  kind: "string",
  valueName: "FILE",
  help: "take the default DNS servers from this file",
};

export const PROBE_TIMEOUT_OPTION: OptionSpec = {
  name: "timeout",
  kind: "integer",
  min: 1,
  max: 600000,
  valueName: "MS",
  help: "per-probe wait (default: each probe's own)",
};

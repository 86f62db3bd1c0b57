// The kubectl readers over every fixture in test/fixtures/kube (shaped as `kubectl get nodes -o json` and
// `kubectl get svc -A -o json` print them): what they take, what they skip with a notice, and the one line
// they refuse malformed input with. The fixtures are also fed through parseNodes and normalizeNodePorts, as
// check does, so that what the readers give is what check accepts.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { nodesFromKubectl, servicesFromKubectl } from "../../src/check/kube";
import { normalizeNodePorts, parseNodes } from "../../src/check/nodes";
import { UsageError } from "../../src/errors";

const DIR = join(__dirname, "..", "fixtures", "kube");
const text = (name: string) => readFileSync(join(DIR, name), "utf8");

function readNodes(name: string) {
  const notices: string[] = [];
  const nodes = nodesFromKubectl(text(name), { source: name, onNotice: (m) => notices.push(m) });
  return { nodes, notices };
}

function readServices(name: string) {
  const notices: string[] = [];
  const services = servicesFromKubectl(text(name), { source: name, onNotice: (m) => notices.push(m) });
  return { ...services, notices };
}

/** The one-line UsageError a reader throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return err.message;
  }
  throw new Error("not refused");
}

t.test("IPv4 nodes: names and InternalIPs; ExternalIP and Hostname ignored", async (t) => {
  const { nodes, notices } = readNodes("nodes-ipv4.json");
  t.same(nodes, [
    { name: "cp1", addresses: ["198.51.100.11"] },
    { name: "worker1", addresses: ["198.51.100.12"] },
    { name: "worker2", addresses: ["198.51.100.13"] },
  ]);
  t.same(notices, []);
  t.same(
    parseNodes(nodes).map((n) => [n.name, n.ipv4, n.ipv6]),
    [
      ["cp1", "198.51.100.11", null],
      ["worker1", "198.51.100.12", null],
      ["worker2", "198.51.100.13", null],
    ],
  );
});

t.test("IPv6-only nodes: addresses in RFC 5952 form", async (t) => {
  const { nodes } = readNodes("nodes-ipv6.json");
  t.same(nodes, [
    { name: "v6-cp1", addresses: ["2001:db8:1::11"] },
    { name: "v6-worker1", addresses: ["2001:db8:1::12"] },
    { name: "v6-worker2", addresses: ["2001:db8:1::13"] },
  ]);
});

t.test("dual-stack nodes: both InternalIPs, IPv4 first whatever kubelet's order", async (t) => {
  const { nodes, notices } = readNodes("nodes-dual-stack.json");
  t.same(nodes, [
    { name: "ds-cp1", addresses: ["198.51.100.21", "2001:db8:1::21"] },
    { name: "ds-worker1", addresses: ["198.51.100.22", "2001:db8:1::22"] },
    { name: "ds-worker2", addresses: ["198.51.100.23", "2001:db8:1::23"] },
    { name: "ds-worker3", addresses: ["198.51.100.24"] },
  ]);
  t.same(notices, []);
  const parsed = parseNodes(nodes);
  t.same(parsed[2], { name: "ds-worker2", ipv4: "198.51.100.23", ipv6: "2001:db8:1::23" });
  t.same(parsed[3], { name: "ds-worker3", ipv4: "198.51.100.24", ipv6: null });
});

t.test("nodes without an InternalIP are skipped, a second one of a family ignored: notices", async (t) => {
  const { nodes, notices } = readNodes("nodes-missing-internalip.json");
  t.same(nodes, [
    { name: "edge1", addresses: ["198.51.100.31"] },
    { name: "edge4", addresses: ["198.51.100.34", "2001:db8:1::34"] },
  ]);
  t.same(notices, [
    "nodes-missing-internalip.json: 2 nodes without an InternalIP skipped: edge2, edge3",
    "nodes-missing-internalip.json: a node has at most one address per family here; the first InternalIP of each family is taken, not edge4 (198.51.100.134)",
  ]);
});

t.test("a single Node (kubectl get node NAME -o json), an empty List, parsed objects", async (t) => {
  t.same(readNodes("node-single.json").nodes, [
    { name: "cp1", addresses: ["198.51.100.11", "2001:db8:1::11"] },
  ]);
  t.same(readNodes("nodes-empty.json").nodes, []);
  // a client library's NodeList: the API's kind, items without one
  const apiList = {
    kind: "NodeList",
    apiVersion: "v1",
    metadata: { resourceVersion: "41237" },
    items: [
      { metadata: { name: "n1" }, status: { addresses: [{ type: "InternalIP", address: "198.51.100.41" }] } },
    ],
  };
  t.same(nodesFromKubectl(apiList), [{ name: "n1", addresses: ["198.51.100.41"] }]);
  t.same(
    nodesFromKubectl(`\n${JSON.stringify(apiList)}\n`),
    [{ name: "n1", addresses: ["198.51.100.41"] }],
    "text",
  );
});

t.test("services: every nodePort with its protocol and family, the kube-dns ClusterIPs", async (t) => {
  const s = readServices("services.json");
  t.same(s.nodePorts, [
    { port: 30000, protocol: "tcp", family: null },
    { port: 30053, protocol: "udp", family: "ipv4" },
    { port: 30053, protocol: "tcp", family: "ipv4" },
    { port: 30514, protocol: "udp", family: "ipv6" },
    { port: 31443, protocol: "tcp", family: null },
    { port: 31080, protocol: "tcp", family: null },
  ]);
  t.same(s.dnsServers, ["198.18.53.10", "2001:db8:53::10"], "dual-stack clusterIPs; not kube-dns-upstream");
  t.equal(s.dnsService, "kube-system/kube-dns");
  t.same(s.notices, [
    "services.json: SCTP nodePorts are not checked (no SCTP probe): telecom/diameter 30868/SCTP",
  ]);
  t.same(
    normalizeNodePorts(s.nodePorts).map((p) => `${p.port}/${p.protocol}/${p.family ?? "any"}`),
    ["30000/tcp/any", "30053/udp/ipv4", "30053/tcp/ipv4", "30514/udp/ipv6", "31443/tcp/any", "31080/tcp/any"],
    "check takes them as they are",
  );
});

t.test("the DNS Service found by its label (RKE2), an IPv6-only cluster, none at all", async (t) => {
  const labelled = readServices("services-labelled-dns.json");
  t.same(labelled.dnsServers, ["198.18.53.10"]);
  t.equal(labelled.dnsService, "kube-system/rke2-coredns-rke2-coredns");
  t.same(labelled.nodePorts, []);
  t.same(labelled.notices, []);

  const v6 = readServices("services-ipv6.json");
  t.same(v6.nodePorts, [{ port: 30000, protocol: "tcp", family: "ipv6" }]);
  t.same(v6.dnsServers, ["2001:db8:53::10"]);

  const none = readServices("services-no-dns.json");
  t.same(none.dnsServers, []);
  t.equal(none.dnsService, null);
  t.same(none.notices, [
    "services-no-dns.json: no cluster DNS Service (kube-system/kube-dns, or k8s-app=kube-dns in kube-system)",
  ]);

  t.same(readServices("service-single.json").nodePorts, [{ port: 30000, protocol: "tcp", family: "ipv4" }]);
});

t.test("a headless kube-dns: no server, a notice", async (t) => {
  const notices: string[] = [];
  const s = servicesFromKubectl(
    {
      kind: "List",
      items: [
        {
          kind: "Service",
          metadata: { name: "kube-dns", namespace: "kube-system" },
          spec: { clusterIP: "None", clusterIPs: ["None"], type: "ClusterIP" },
        },
      ],
    },
    { onNotice: (m) => notices.push(m) },
  );
  t.same(s.dnsServers, []);
  t.same(notices, [
    "the kubectl JSON: the DNS Service kube-system/kube-dns has no ClusterIP (headless): not asked",
  ]);
});

t.test("malformed input: one line naming the input and what is wrong", async (t) => {
  const cases: Array<[string, "nodes" | "services", RegExp]> = [
    ["truncated.json", "nodes", /^truncated\.json: not JSON: /],
    ["nodes.yaml", "nodes", /^nodes\.yaml: not JSON \(YAML\? use kubectl \.\.\. -o json\): /],
    [
      "wrong-kind.json",
      "nodes",
      /^wrong-kind\.json: item 1 is a Pod, not a Node \(the output of kubectl get nodes -o json\)$/,
    ],
    ["services.json", "nodes", /^services\.json: item 1 is a Service, not a Node/],
    ["nodes-ipv4.json", "services", /^nodes-ipv4\.json: item 1 is a Node, not a Service/],
    ["node-single.json", "services", /^node-single\.json: kind Node, not a Service list/],
    [
      "bad-node-address.json",
      "nodes",
      /^bad-node-address\.json: node worker1: InternalIP "198\.51\.100\.300" is not an IPv4 or IPv6 address$/,
    ],
    [
      "bad-nodeport.json",
      "services",
      /^bad-nodeport\.json: Service default\/web port "http": nodePort 70000 is out of range \(1-65535\)$/,
    ],
  ];
  for (const [file, what, says] of cases) {
    const read = what === "nodes" ? nodesFromKubectl : servicesFromKubectl;
    const message = refusal(() => read(text(file), { source: file }));
    t.match(message, says, `${file} as ${what}: ${message}`);
    t.notOk(message.includes("\n"), `${file}: one line`);
  }
});

t.test("malformed objects: each refusal says where", async (t) => {
  const nodeList = (items: unknown[]) => ({ apiVersion: "v1", kind: "List", items });
  const svcList = (spec: unknown) =>
    nodeList([{ kind: "Service", metadata: { name: "s", namespace: "ns" }, spec }]);
  const cases: Array<[() => unknown, RegExp]> = [
    [() => nodesFromKubectl("[]"), /a JSON array, not a Node list/],
    [() => nodesFromKubectl("42"), /a JSON number, not a Node list/],
    [() => nodesFromKubectl({ apiVersion: "v1" }), /no kind, not a Node list/],
    [() => nodesFromKubectl({ kind: "List" }), /a List without an items array/],
    [() => nodesFromKubectl(nodeList([{ kind: "Node", metadata: {} }])), /node 1 has no metadata\.name/],
    [
      () =>
        nodesFromKubectl(nodeList([{ kind: "Node", metadata: { name: "a" } }, { metadata: { name: "a" } }])),
      /node a is listed twice/,
    ],
    [
      () =>
        nodesFromKubectl(
          nodeList([
            {
              metadata: { name: "a" },
              status: { addresses: [{ type: "InternalIP", address: "198.51.100.1" }] },
            },
            {
              metadata: { name: "b" },
              status: { addresses: [{ type: "InternalIP", address: "198.51.100.1" }] },
            },
          ]),
        ),
      /198\.51\.100\.1 is the InternalIP of a and b/,
    ],
    [
      () =>
        nodesFromKubectl(
          nodeList([
            {
              metadata: { name: "a" },
              status: { addresses: [{ type: "InternalIP", address: "198.51.100.0/24" }] },
            },
          ]),
        ),
      /node a: InternalIP "198\.51\.100\.0\/24" is not an IPv4 or IPv6 address/,
    ],
    [
      () =>
        nodesFromKubectl(
          nodeList([
            {
              metadata: { name: "a" },
              status: { addresses: [{ type: "InternalIP", address: "fe80::1%eth0" }] },
            },
          ]),
        ),
      /InternalIP "fe80::1%eth0" is not an IPv4 or IPv6 address/,
    ],
    [
      () =>
        nodesFromKubectl(
          nodeList([
            {
              metadata: { name: "a" },
              status: { addresses: [{ type: "InternalIP", address: "::ffff:198.51.100.1" }] },
            },
          ]),
        ),
      /is an IPv4-mapped IPv6 address/,
    ],
    [
      () => nodesFromKubectl(nodeList([{ metadata: { name: "a" }, status: { addresses: "198.51.100.1" } }])),
      /node a: status\.addresses is not a list/,
    ],
    [
      () => servicesFromKubectl(svcList({ type: "NodePort", ports: [{ port: 80, nodePort: 0 }] })),
      /Service ns\/s port 80: nodePort 0 is out of range/,
    ],
    [
      () => servicesFromKubectl(svcList({ type: "NodePort", ports: [{ port: 80, nodePort: "30000" }] })),
      /nodePort "30000" is out of range/,
    ],
    [
      () =>
        servicesFromKubectl(
          svcList({ type: "NodePort", ports: [{ port: 80, nodePort: 30000, protocol: "QUIC" }] }),
        ),
      /unknown protocol "QUIC" \(TCP, UDP or SCTP\)/,
    ],
    [
      () =>
        servicesFromKubectl(
          svcList({ type: "NodePort", ipFamilies: ["IPv5"], ports: [{ port: 80, nodePort: 30000 }] }),
        ),
      /Service ns\/s: unknown IP family "IPv5"/,
    ],
    [
      () =>
        servicesFromKubectl(
          nodeList([
            {
              kind: "Service",
              metadata: { name: "kube-dns", namespace: "kube-system" },
              spec: { clusterIP: "198.18.53.300" },
            },
          ]),
        ),
      /Service kube-system\/kube-dns: ClusterIP "198\.18\.53\.300" is not an IPv4 or IPv6 address/,
    ],
  ];
  for (const [fn, says] of cases) {
    const message = refusal(fn);
    t.match(message, says, message);
    t.match(message, /^the kubectl JSON: /, "names the input");
  }
});

t.test("more than check's 4096 nodes: refused, saying how to select fewer", async (t) => {
  const items = Array.from({ length: 4097 }, (_, i) => ({
    metadata: { name: `n${i}` },
    status: { addresses: [{ type: "InternalIP", address: `198.18.${i >> 8}.${i & 255}` }] },
  }));
  t.match(
    refusal(() => nodesFromKubectl({ kind: "NodeList", items })),
    /4097 nodes with an InternalIP; check takes at most 4096 \(select fewer: kubectl get nodes -l LABEL\)/,
  );
  t.equal(nodesFromKubectl({ kind: "NodeList", items: items.slice(0, 4096) }).length, 4096);
});

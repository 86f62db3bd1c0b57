import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { EnvironmentError, UsageError } from "../errors";

// The agent's HTTP server: read-only. GET and HEAD only (405 otherwise), three paths (/metrics, /healthz,
// /results; 404 otherwise), query strings ignored, request bodies never read. Nothing received here changes a
// target or starts a probe: the handlers only read what the last round left.

/** What the server shows: each call returns the current content. */
export interface AgentPages {
  /** the Prometheus text format, and its content type */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** null when healthy, else the one-line reason */
  unhealthy(): string | null;
  /** the latest round's results, as JSON-able data */
  results(): unknown;
}

/** An address to listen on: `ADDR:PORT`, an IPv6 address in brackets (`[2001:db8::1]:9474`). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** The default --listen: 127.0.0.1:9474. */
export const DEFAULT_LISTEN = "127.0.0.1:9474";

/** Parses --listen: `ADDR:PORT` or `[IPV6]:PORT`; UsageError otherwise. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new UsageError(`--listen needs ADDR:PORT (127.0.0.1:9474, [2001:db8::1]:9474), got "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}

function send(res: ServerResponse, head: boolean, status: number, type: string, body: string): void {
  const data = Buffer.from(body, "utf8");
  res.writeHead(status, { "content-type": type, "content-length": data.length, "cache-control": "no-store" });
  res.end(head ? undefined : data);
}

/** Answers one request from `pages`. */
async function handle(pages: AgentPages, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "";
  const path = (req.url ?? "/").split("?")[0]!;
  const known = path === "/metrics" || path === "/healthz" || path === "/results";
  if (!known) return send(res, method === "HEAD", 404, "text/plain; charset=utf-8", "not found\n");
  if (method !== "GET" && method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(res, false, 405, "text/plain; charset=utf-8", "method not allowed: GET or HEAD only\n");
  }
  const head = method === "HEAD";
  if (path === "/metrics") {
    const m = await pages.metrics();
    return send(res, head, 200, m.contentType, m.body);
  }
  if (path === "/healthz") {
    const why = pages.unhealthy();
    return send(res, head, why === null ? 200 : 503, "text/plain; charset=utf-8", `${why ?? "ok"}\n`);
  }
  return send(res, head, 200, "application/json", `${JSON.stringify(pages.results())}\n`);
}

/**
 * Starts the read-only server on `listen`; resolves once it listens (EnvironmentError when it cannot: the
 * address in use, or not this host's).
 */
export async function startServer(listen: ListenAddress, pages: AgentPages): Promise<Server> {
  const server = createServer((req, res) => {
    // The body of a request is never read: drain it so the connection can be reused.
    req.resume();
    handle(pages, req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, false, 500, "text/plain; charset=utf-8", `error: ${err.message}\n`);
      else res.destroy();
    });
  });
  // A scrape that stalls must not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new EnvironmentError(`cannot listen on ${formatListen(listen)}: ${err.message}`, err.code, {
          cause: err,
        }),
      );
    server.once("error", onError);
    server.listen(listen.port, listen.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  return server;
}

/** `host:port`, an IPv6 host in brackets. */
export function formatListen(l: ListenAddress): string {
  return l.host.includes(":") ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

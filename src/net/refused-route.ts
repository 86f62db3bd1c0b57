import type { RouteDecision } from "./route";
import { createRouteResolver, type RouteResolver } from "./route-resolver";

// Why the kernel will not send to a destination, named as `ip route` names route types: blackhole,
// prohibit, unreachable, broadcast, multicast, ...; "no-route" when no route matches at all. The kernel's
// route lookup for a blackhole, prohibit or unreachable route (or rule) fails with the errno a send there
// fails with, EINVAL, EACCES and EHOSTUNREACH, and that errno is how the three are told apart. Every probe
// reports such targets by these names.

const ROUTE_TYPE_OF_ERRNO: Readonly<Record<string, string>> = {
  EINVAL: "blackhole",
  EACCES: "prohibit",
  EHOSTUNREACH: "unreachable",
  ENETUNREACH: "no-route",
};

/** The route type that keeps packets to a destination from leaving, or null when its route is usable. */
export function refusingRouteType(decision: RouteDecision): string | null {
  if (decision.kind === "unreachable") return ROUTE_TYPE_OF_ERRNO[decision.code] ?? "no-route";
  if (decision.kind === "special") return decision.routeType;
  return null;
}

/**
 * Explains failed sends: asks the namespace's routes (one snapshot, made on the first failure, so a probe
 * whose sends all leave never pays for it) which route type refused a destination. Sends fail with errnos
 * that say too little on their own (EACCES is a prohibit route, or a broadcast address without
 * SO_BROADCAST; EINVAL is a blackhole), so the route decides the name.
 */
export class SendRefusals {
  private resolver: RouteResolver | null = null;
  private broken = false;

  /** `netns`: a namespace file path, or undefined for the caller's namespace */
  constructor(private readonly netns: string | undefined) {}

  /** The route type that refused a send to `address` (unsigned 32-bit IPv4), or null when the route is usable or unknown. */
  routeType(address: number): string | null {
    if (this.broken) return null;
    try {
      this.resolver ??= createRouteResolver(this.netns);
      return refusingRouteType(this.resolver.resolve(address));
    } catch {
      // Without the routes the errno has to speak for itself.
      this.broken = true;
      return null;
    }
  }

  close(): void {
    this.resolver?.close();
    this.resolver = null;
  }
}

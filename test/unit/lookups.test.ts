// Lookups with a fast path taken before their tables are built: the answers must not depend on which path.
import t from "tap";
import { serviceName, topPortOrder } from "../../src/addr/top-ports";
import { randomBytes, randomInt } from "../../src/engine/random";

t.test("a port's service name is the same before and after the whole table is parsed", async (t) => {
  // Well-known names, bare "unknown" entries, unlisted ports, digits that occur inside other entries.
  const ports = [0, 1, 2, 7, 9, 22, 25, 80, 443, 1024, 3389, 8080, 8000, 31337, 49152, 65000, 65535, 808, 8];
  const quick = ports.map((p) => serviceName(p));
  topPortOrder();
  t.same(
    quick,
    ports.map((p) => serviceName(p)),
  );
  t.equal(serviceName(80), "http");
  t.equal(serviceName(65535), null, "a port nmap does not list");
});

t.test("random bytes and numbers", async (t) => {
  t.equal(randomBytes(24).length, 24);
  t.not(randomBytes(16).toString("hex"), randomBytes(16).toString("hex"));
  for (let i = 0; i < 200; i++) {
    const n = randomInt(32768, 61000);
    t.ok(Number.isInteger(n) && n >= 32768 && n < 61000, `${n} in range`);
  }
  t.throws(() => randomInt(5, 5));
});

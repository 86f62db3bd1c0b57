import t from "tap";
import { parseIpv4Strict, TargetSet } from "../../src/addr/target-set";
import { UsageError } from "../../src/errors";

const ip = (s: string) => parseIpv4Strict(s);
const str = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const all = (set: TargetSet) => [...set].map(str);

t.test("single addresses, CIDR and ranges", async (t) => {
  t.same(all(TargetSet.parse(["198.51.100.7"])), ["198.51.100.7"]);
  t.equal(TargetSet.parse(["198.51.100.0/24"]).size, 256);
  t.equal(TargetSet.parse(["198.18.0.0/15"]).size, 131072);
  t.same(all(TargetSet.parse(["198.51.100.9/30"])), [
    "198.51.100.8",
    "198.51.100.9",
    "198.51.100.10",
    "198.51.100.11",
  ]);
  t.same(all(TargetSet.parse(["198.51.100.10-12"])), ["198.51.100.10", "198.51.100.11", "198.51.100.12"]);
  t.same(all(TargetSet.parse(["198.51.100-101.1,3"])), [
    "198.51.100.1",
    "198.51.100.3",
    "198.51.101.1",
    "198.51.101.3",
  ]);
  t.equal(TargetSet.parse(["203.0.113.*"]).size, 256);
  t.equal(TargetSet.parse(["203.0.113.-9"]).size, 10);
  t.equal(TargetSet.parse(["203.0.113.250-"]).size, 6);
  t.equal(TargetSet.parse(["0.0.0.0/0"]).size, 2 ** 32);
});

t.test("duplicates and overlaps are merged, order is ascending", async (t) => {
  const set = TargetSet.parse(["198.51.100.5", "198.51.100.0/29", "198.51.100.3-12", "198.51.100.1"]);
  t.equal(set.size, 13);
  t.equal(str(set.at(0)), "198.51.100.0");
  t.equal(str(set.at(12)), "198.51.100.12");
  t.equal(set.indexOf(ip("198.51.100.12")), 12);
  t.equal(set.indexOf(ip("198.51.100.13")), -1);
});

t.test("at and indexOf agree over gaps", async (t) => {
  const set = TargetSet.parse(["198.51.100.1-3", "203.0.113.10-11", "198.18.0.0/30"]);
  for (let i = 0; i < set.size; i++) t.equal(set.indexOf(set.at(i)), i);
  t.throws(() => set.at(set.size), RangeError);
});

t.test("exclude removes addresses", async (t) => {
  const set = TargetSet.parse(["198.51.100.0/28"]).exclude(
    TargetSet.parse(["198.51.100.0", "198.51.100.4-6", "198.51.100.15"]),
  );
  t.same(all(set), [
    "198.51.100.1",
    "198.51.100.2",
    "198.51.100.3",
    "198.51.100.7",
    "198.51.100.8",
    "198.51.100.9",
    "198.51.100.10",
    "198.51.100.11",
    "198.51.100.12",
    "198.51.100.13",
    "198.51.100.14",
  ]);
});

t.test("bad input is a UsageError naming the target", async (t) => {
  for (const bad of [
    "",
    "198.51.100",
    "198.51.100.256",
    "198.51.100.1/33",
    "198.51.100.01",
    "a.b.c.d",
    "198.51.100.20-10",
    "198.51.100.1/",
    "198..100.1",
    "example..com",
    "1.2.3.4.5",
    "198.51.100.1/-1",
  ]) {
    t.throws(() => TargetSet.parse([bad]), UsageError, bad);
  }
  t.throws(() => TargetSet.parse(["*.*.*.1,3"]), /too fragmented/);
});

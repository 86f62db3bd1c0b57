// The API reference's promises, checked on the source it is generated from: every name the package exports says
// what it is for, the ones users call or fill in show how (an @example), and every example compiles against the
// real API, as a user's module importing "wireprobe" would (they are what users copy).

import t from "tap";
import { allExamples, createApiProgram, publicApi, typeCheckExamples } from "../helpers/api-docs";

const program = createApiProgram();
const api = publicApi(program);

/**
 * What needs an @example: every name src/index.ts exports itself, and inside the namespaces (`packet.*`) every
 * namespace, function and class, and every options type. A namespace's plain types (a decoded header) and
 * constants are shown by its functions' examples; they need a doc comment only.
 */
function needsExample(e: (typeof api)[number]): boolean {
  if (!e.name.includes(".")) return true;
  const last = e.name.slice(e.name.lastIndexOf(".") + 1);
  return e.kind === "namespace" || e.kind === "function" || e.kind === "class" || /Options$/.test(last);
}

t.test("the public API is what the doc tests walk", async (t) => {
  const names = new Set(api.map((e) => e.name));
  for (const name of [
    "scan",
    "arp",
    "check",
    "TargetSet",
    "PortRecord",
    "packet",
    "packet.tcp.writeSynPacket",
  ]) {
    t.ok(names.has(name), `${name} is found among the exports`);
  }
});

t.test("every export has a doc comment", async (t) => {
  const missing = api.filter((e) => e.doc === "").map((e) => `${e.name} (${e.kind}, ${e.where})`);
  t.same(missing, [], "exports without a doc comment");
});

t.test("every function, class, record and options type has an @example", async (t) => {
  const missing = api
    .filter((e) => needsExample(e) && e.examples.length === 0)
    .map((e) => `${e.name} (${e.where})`);
  t.same(missing, [], "exports without an @example");
  t.ok(api.filter((e) => e.examples.length > 0).length > 100, "the examples are found");
});

t.test("every @example is a module importing the package, as a user's code would", async (t) => {
  const examples = allExamples(program);
  const bad = examples.filter((e) => !/from "wireprobe";/.test(e.code)).map((e) => `${e.owner} (${e.where})`);
  t.same(bad, [], 'examples that do not import from "wireprobe"');
});

t.test("every @example type-checks against the real API", async (t) => {
  const examples = allExamples(program);
  t.ok(examples.length >= api.filter(needsExample).length, `${examples.length} examples`);
  const errors = typeCheckExamples(examples);
  t.same(errors, [], "type errors in examples");
});

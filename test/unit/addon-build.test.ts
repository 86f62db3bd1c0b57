// One exception model in the addon: C++ exceptions are off, in node-addon-api (NAPI_DISABLE_CPP_EXCEPTIONS) and in
// the compiler (-fno-exceptions), and the addon's code is written for that: every failure is a return value that
// becomes a JS error. The built addon proves it: code compiled with exceptions, even a single catch, needs the C++
// runtime's unwinding entry points, and code without them imports none.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";

const root = join(__dirname, "..", "..");

interface Gyp {
  targets: Array<{ defines?: string[]; cflags_cc?: string[]; "cflags_cc!"?: string[] }>;
}

t.test("binding.gyp asks for one model: exceptions off everywhere", async (t) => {
  const gyp = JSON.parse(readFileSync(join(root, "binding.gyp"), "utf8")) as Gyp;
  const [target] = gyp.targets;
  t.ok(target, "one target");
  t.ok(target?.defines?.includes("NAPI_DISABLE_CPP_EXCEPTIONS"), "node-addon-api without C++ exceptions");
  t.notOk(target?.defines?.includes("NAPI_CPP_EXCEPTIONS"), "and not with them");
  t.ok(target?.cflags_cc?.includes("-fno-exceptions"), "the compiler without C++ exceptions");
  t.notOk(target?.["cflags_cc!"]?.includes("-fno-exceptions"), "not switched back on");
});

t.test("the built addon has no C++ exception handling in it", async (t) => {
  const addon = ["Release", "Debug"]
    .map((d) => join(root, "build", d, "wireprobe.node"))
    .find((f) => existsSync(f));
  if (addon === undefined) {
    t.fail("the addon is not built (npx node-gyp rebuild)");
    return;
  }
  const undefinedSymbols = execFileSync("nm", ["-D", "--undefined-only", addon], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().split(/\s+/).pop()?.replace(/@.*/, "") ?? "")
    .filter((name) => name !== "");
  t.ok(undefinedSymbols.length > 0, `nm lists the addon's imports (${undefinedSymbols.length})`);
  for (const name of [
    "__gxx_personality_v0", // unwinding through a function that has cleanups or handlers
    "_Unwind_Resume", // the cleanups' way on
    "__cxa_begin_catch", // a catch
    "__cxa_allocate_exception", // a throw
    "__cxa_throw",
  ]) {
    t.notOk(undefinedSymbols.includes(name), `no ${name}`);
  }
});

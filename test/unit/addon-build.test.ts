// One exception model in the addon: C++ exceptions are off, in node-addon-api (NAPI_DISABLE_CPP_EXCEPTIONS) and in
// the compiler (-fno-exceptions), and the addon's code is written for that: every failure is a return value that
// becomes a JS error. The built addon proves it: code compiled with exceptions, even a single catch, needs the C++
// runtime's unwinding entry points, and code without them imports none.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import t, { type Test } from "tap";

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

/** The addon's dynamic imports (nm -D reads x86-64 and AArch64 ELF alike). */
function undefinedSymbols(file: string): string[] {
  return execFileSync("nm", ["-D", "--undefined-only", file], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().split(/\s+/).pop()?.replace(/@.*/, "") ?? "")
    .filter((name) => name !== "");
}

const UNWINDING = [
  "__gxx_personality_v0", // unwinding through a function that has cleanups or handlers
  "_Unwind_Resume", // the cleanups' way on
  "__cxa_begin_catch", // a catch
  "__cxa_allocate_exception", // a throw
  "__cxa_throw",
];

function noExceptions(t: Test, file: string): void {
  const symbols = undefinedSymbols(file);
  t.ok(symbols.length > 0, `nm lists ${relative(root, file)}'s imports (${symbols.length})`);
  for (const name of UNWINDING) t.notOk(symbols.includes(name), `no ${name}`);
}

t.test("the addon the loader picks has no C++ exception handling in it", async (t) => {
  // node-gyp-build's choice, as src/native/binding.ts makes it: build/Release in a clone, a prebuild otherwise.
  let addon: string;
  try {
    addon = (require("node-gyp-build") as { path(dir: string): string }).path(root);
  } catch (err) {
    t.fail(`no addon for this platform (npm install builds one): ${(err as Error).message.split("\n")[0]}`);
    return;
  }
  noExceptions(t, addon);
});

t.test("nor has any prebuild in this checkout", async (t) => {
  // prebuilds/ exists once `npm run prebuilds` or `npm pack` has made it (test/package.test.ts packs a copy).
  const dir = join(root, "prebuilds");
  const files = existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".node"))
    : [];
  t.comment(files.length === 0 ? "no prebuilds/ here" : `prebuilds: ${files.join(", ")}`);
  for (const f of files) t.test(f, async (t) => noExceptions(t, join(dir, f)));
});

// docs/api is generated (TypeDoc, typedoc.json) and committed, so that the README links to a reference that renders
// where the code is read. This regenerates it and fails when the committed copy differs: run `npm run docs`.
// TypeDoc validates as it goes (typedoc.json: treatWarningsAsErrors), so an undocumented export, a type the docs
// reference but the package does not export, or a broken {@link} fails here too.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import t from "tap";

const root = join(__dirname, "..", "..");
const committed = join(root, "docs", "api");

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

t.test("docs/api is what `npm run docs` generates from the source", async (t) => {
  const out = mkdtempSync(join(tmpdir(), "wireprobe-apidocs-"));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const typedoc = join(root, "node_modules", "typedoc", "bin", "typedoc");
  try {
    execFileSync(process.execPath, [typedoc, "--out", out, "--logLevel", "Warn"], {
      cwd: root,
      encoding: "utf8",
      stdio: "pipe",
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    t.fail(`typedoc failed (an undocumented export or a broken link?):\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    return;
  }
  const fresh = files(out);
  t.same(files(committed), fresh, "the same files (run `npm run docs` and commit docs/api)");
  const stale = fresh.filter((f) => {
    try {
      return readFileSync(join(committed, f), "utf8") !== readFileSync(join(out, f), "utf8");
    } catch {
      return true;
    }
  });
  t.same(stale, [], "files whose content differs (run `npm run docs` and commit docs/api)");
});

// Lab helper for tap tests: a lab that is always destroyed when the test ends.

import { Lab, type LabOptions } from "../../src/lab";

/** The part of a tap Test that withLab uses. */
export interface LabTest {
  teardown(fn: () => unknown): void;
  comment(...message: unknown[]): void;
}

/**
 * Creates a lab named `name` (or with these options: `{ name, ipv6: true }`) for test `t` and registers `t.teardown(() => lab.destroy())` (teardown errors
 * are printed as comments and on stderr: the test has ended by then). If `build` is given it runs right after,
 * so a failure while building the topology still tears down what was built. Resolves with the lab.
 *
 * ```ts
 * t.test("ping", async (t) => {
 *   const lab = await withLab(t, "ping");
 *   const lan = await lab.segment("lan");
 *   ...
 * });
 * ```
 */
export async function withLab(
  t: LabTest,
  name: string | LabOptions,
  build?: (lab: Lab) => unknown,
): Promise<Lab> {
  const lab = await Lab.create(typeof name === "string" ? { name } : name);
  t.teardown(async () => {
    const errors = await lab.destroy();
    for (const err of errors) {
      t.comment(`lab ${lab.prefix} teardown: ${err.message}`);
      process.stderr.write(`lab ${lab.prefix} teardown: ${err.message}\n`);
    }
  });
  if (build) await build(lab);
  return lab;
}

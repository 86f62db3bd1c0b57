import type { VerdictRecord } from "../records";
import { escapeXml } from "./xml";

// JUnit XML for CI systems: one test case per verdict, so a failed check shows as a failed test. A verdict
// drawn from part of the work (an interrupted run, records that never came) is an <error>: the test could not
// be carried out, which CI must neither pass nor report as a finding about the cluster.

const xml = escapeXml;

export function formatJunit(
  verdicts: readonly VerdictRecord[],
  durationMs: number,
  suite = "wireprobe check",
): string {
  // Records saved before `complete` existed have no such field: they were complete.
  const incomplete = (v: VerdictRecord) => v.complete === false;
  const failures = verdicts.filter((v) => !v.ok && !incomplete(v)).length;
  const errors = verdicts.filter(incomplete).length;
  const seconds = (durationMs / 1000).toFixed(3);
  const cases = verdicts.map((v) => {
    const evidence = v.evidence.map((e) => `${e.subject}: ${e.finding}`).join("\n");
    let body: string;
    if (v.ok) body = `    <system-out>${xml(`${v.detail}\n${evidence}`)}</system-out>\n`;
    else if (incomplete(v)) {
      const notProbed = v.notProbed ?? [];
      const missing =
        notProbed.length > 0 ? `Not probed (${notProbed.length}):\n${notProbed.join("\n")}\n\n` : "";
      body = `    <error message="${xml(v.detail)}" type="incomplete">${xml(`${v.detail}\n\n${missing}Fix: ${v.fix ?? ""}\n\n${evidence}`)}</error>\n`;
    } else
      body = `    <failure message="${xml(v.detail)}" type="${xml(v.check)}">${xml(`${v.detail}\n\nFix: ${v.fix ?? ""}\n\n${evidence}`)}</failure>\n`;
    return `  <testcase classname="wireprobe.check" name="${xml(v.check)}" time="${seconds}">\n${body}  </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="wireprobe" tests="${verdicts.length}" failures="${failures}" errors="${errors}" time="${seconds}">
<testsuite name="${xml(suite)}" tests="${verdicts.length}" failures="${failures}" errors="${errors}" time="${seconds}">
${cases.join("\n")}
</testsuite>
</testsuites>
`;
}

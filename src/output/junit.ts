import type { VerdictRecord } from "../records";
import { escapeXml } from "./xml";

// JUnit XML for CI systems: one test case per verdict, so a failed check shows as a failed test.

const xml = escapeXml;

export function formatJunit(
  verdicts: readonly VerdictRecord[],
  durationMs: number,
  suite = "wireprobe check",
): string {
  const failures = verdicts.filter((v) => !v.ok).length;
  const seconds = (durationMs / 1000).toFixed(3);
  const cases = verdicts.map((v) => {
    const evidence = v.evidence.map((e) => `${e.subject}: ${e.finding}`).join("\n");
    const body = v.ok
      ? `    <system-out>${xml(`${v.detail}\n${evidence}`)}</system-out>\n`
      : `    <failure message="${xml(v.detail)}" type="${xml(v.check)}">${xml(`${v.detail}\n\nFix: ${v.fix ?? ""}\n\n${evidence}`)}</failure>\n`;
    return `  <testcase classname="wireprobe.check" name="${xml(v.check)}" time="${seconds}">\n${body}  </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="wireprobe" tests="${verdicts.length}" failures="${failures}" time="${seconds}">
<testsuite name="${xml(suite)}" tests="${verdicts.length}" failures="${failures}" errors="0" time="${seconds}">
${cases.join("\n")}
</testsuite>
</testsuites>
`;
}

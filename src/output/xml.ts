// XML text and attribute escaping for the XML outputs (JUnit, nmap -oX). Control characters that XML 1.0
// cannot carry at all are dropped rather than escaped; "--" is broken up so the text can also stand in a
// comment (nmap's XML repeats the command line in one).

function allowed(code: number): boolean {
  return code === 0x09 || code === 0x0a || code === 0x0d || code >= 0x20;
}

export function escapeXml(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (!allowed(code)) continue;
    if (ch === "&") out += "&amp;";
    else if (ch === "<") out += "&lt;";
    else if (ch === ">") out += "&gt;";
    else if (ch === '"') out += "&quot;";
    else if (ch === "'") out += "&apos;";
    else if (ch === "-" && out.endsWith("-")) out += "&#45;";
    else out += ch;
  }
  return out;
}

import { environmentErrorFrom } from "../errors";
import { resolveNetns } from "../native/binding";

/** The file of a namespace given by name or path (undefined: the caller's), or an EnvironmentError (exit 3). */
export function namespacePath(netns: string | undefined): string | undefined {
  try {
    return resolveNetns(netns);
  } catch (err) {
    throw environmentErrorFrom(err, "network namespace");
  }
}

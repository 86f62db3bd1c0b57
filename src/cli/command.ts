import type { Writable } from "node:stream";
import type { OptionSpec, ParsedArgs } from "./args";

/** What a subcommand gets: its own arguments, the streams, and a signal that fires on Ctrl-C / SIGTERM. */
export interface CommandContext {
  argv: string[];
  stdout: Writable;
  stderr: Writable;
  signal: AbortSignal;
}

export interface Command {
  name: string;
  /** the --help text */
  usage: string;
  /** its options (main adds -h/--help and parses before run) */
  options: OptionSpec[];
  /** rewrites argv before parsing (nmap's single-dash long options) */
  normalise?(argv: readonly string[]): string[];
  /**
   * a signal (SIGINT, SIGTERM) is how it normally ends (a long-running agent): the exit code is run's, not
   * 130/143, and no "interrupted" is printed
   */
  stopsOnSignal?: boolean;
  /** resolves to the exit code */
  run(ctx: CommandContext, args: ParsedArgs): Promise<number>;
}

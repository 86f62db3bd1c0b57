import type { Writable } from "node:stream";

/** What a subcommand gets: its own arguments, the streams, and a signal that fires on Ctrl-C / SIGTERM. */
export interface CommandContext {
  argv: string[];
  stdout: Writable;
  stderr: Writable;
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** resolves to the exit code */
  run(ctx: CommandContext): Promise<number>;
}

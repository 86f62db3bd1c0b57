// The option parser and ping's iputils spellings: what a user types becomes the options the commands get.

import t from "tap";
import { type OptionSpec, parseArgs } from "../../src/cli/args";
import { pingCommand } from "../../src/cli/commands/ping";

const SPECS: OptionSpec[] = [
  { name: "count", aliases: ["-c"], kind: "integer", min: 1, help: "" },
  { name: "interface", aliases: ["-i"], kind: "string", help: "" },
  { name: "input-list", aliases: ["-iL"], kind: "string", help: "" },
  { name: "json", aliases: ["-j"], kind: "flag", help: "" },
];

const options = (argv: string[], specs = SPECS) => Object.fromEntries(parseArgs(argv, specs).options);

t.test("a value glued to a one-letter option, as getopt reads it", async (t) => {
  t.same(options(["-c1"]), { count: 1 });
  t.same(options(["-c", "1"]), { count: 1 });
  t.same(options(["--count=2"]), { count: 2 });
  t.throws(() => options(["-cx"]), { name: "UsageError", message: /-c needs a whole number, got "x"/ });
  t.throws(() => options(["-jx"]), { name: "UsageError", message: /unknown option -jx/ }, "not onto a flag");
  t.throws(
    () => options(["-iLhosts"]),
    { name: "UsageError", message: /unknown option -iLhosts/ },
    "not where a longer option shares the letter (-i and -iL)",
  );
  t.same(options(["-iL", "hosts", "-i", "eth0"]), { "input-list": "hosts", interface: "eth0" });
});

t.test("ping: iputils' -c1, -W SECONDS, -i SECONDS; -i NAME and -I NAME are the interface", async (t) => {
  const ping = (argv: string[]) =>
    Object.fromEntries(parseArgs(pingCommand.normalise!(argv), pingCommand.options).options);
  t.same(ping(["-c1", "-W1", "-i0.2", "198.51.100.1"]), { count: 1, timeout: 1000, interval: 200 });
  t.same(ping(["-c", "1", "-W", "1", "-i", "0.2", "198.51.100.1"]), {
    count: 1,
    timeout: 1000,
    interval: 200,
  });
  t.same(ping(["-i", ".5", "-W", "0.25"]), { interval: 500, timeout: 250 });
  t.same(ping(["-i", "eth0"]), { interface: "eth0" }, "wireprobe's -i IFACE still works");
  t.same(ping(["-ieth0"]), { interface: "eth0" });
  t.same(ping(["-I", "eth0"]), { interface: "eth0" });
  t.same(ping(["--interval", "50", "--timeout", "700"]), { interval: 50, timeout: 700 });
  t.throws(() => ping(["-W", "soon"]), { name: "UsageError", message: /-W needs a number of seconds/ });
  t.same(parseArgs(pingCommand.normalise!(["--", "-i"]), pingCommand.options).positionals, ["-i"]);
});

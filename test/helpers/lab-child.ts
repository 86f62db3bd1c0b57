// Child process for the cleanup tests in test/lab.test.ts (not a test itself): builds a small lab, starts a
// long-running process in it, prints one JSON line {prefix, namespaces, sleepPid} and then, by argv[2]:
//   wait  stay alive until killed (the parent sends SIGTERM / SIGINT / SIGKILL)
//   exit  call process.exit(0) without destroying the lab (the exit hook must clean up)

import { Lab } from "../../src/lab";

async function main(): Promise<void> {
  const mode = process.argv[2] ?? "wait";
  const lab = await Lab.create({ name: "child" });
  const lan = await lab.segment("lan");
  const h = await lab.host("h");
  await h.connect(lan, { address: "198.51.100.50/24" });
  const sleeper = h.spawn("sleep", ["1000"], { stdio: "ignore" });
  process.stdout.write(
    `${JSON.stringify({ prefix: lab.prefix, namespaces: lab.namespaces, sleepPid: sleeper.pid })}\n`,
  );
  if (mode === "exit") process.exit(0);
  setInterval(() => {}, 1000);
}

main().catch((err: unknown) => {
  process.stderr.write(`lab-child: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});

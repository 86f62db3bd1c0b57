#!/usr/bin/env node
"use strict";
let main;
try {
  ({ main } = require("../dist/cli/main.js"));
} catch (err) {
  process.stderr.write(
    `wireprobe: not built (${err.code || err.message}); run npm install in ${require("node:path").resolve(__dirname, "..")}\n`,
  );
  process.exit(3);
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`wireprobe: internal error: ${err?.message}\n`);
    process.exitCode = 4;
  },
);

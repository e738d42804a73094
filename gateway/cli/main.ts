#!/usr/bin/env -S node --initial-old-space-size=256
import { runCli } from "./run.js";

const code = await runCli(process.argv.slice(2), {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  env: process.env,
});
// serve returns only after shutdown; every other command is done here.
process.exitCode = code;

#!/usr/bin/env node
// Entry point: runs the compiled CLI, bundled (npm install builds dist/ and dist/bundle/ through
// the prepare script; scripts/bundle.mjs says why a bundle).
import { main } from '../dist/bundle/main.js';

// A reader that stops early (`provision lab status | head -1`) closes the pipe: the rest of the
// output is dropped and the run goes on to its end, rather than crashing with EPIPE.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
});

const code = await main(process.argv.slice(2));
// For the benchmark: the provisioner's own peak memory.
if (process.env.PROVISION_REPORT_PEAK_RSS) {
  const u = process.resourceUsage();
  process.stderr.write(`peak-rss-kb=${u.maxRSS} cpu-ms=${Math.round((u.userCPUTime + u.systemCPUTime) / 1000)}\n`);
}
// Output to a pipe is written asynchronously: exiting at once would cut a large --json document.
await new Promise((resolve) => process.stdout.write('', resolve));
process.exit(code);

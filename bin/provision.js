#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm install builds dist/ through the prepare script).
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
// For the benchmark: the provisioner's own peak memory.
if (process.env.PROVISION_REPORT_PEAK_RSS) process.stderr.write(`peak-rss-kb=${process.resourceUsage().maxRSS}\n`);
process.exit(code);

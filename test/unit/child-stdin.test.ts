/**
 * A local command that exits without reading its stdin (openssl `req -x509`, seen under load in
 * CI) makes the write to it fail with EPIPE. That must come back as the command's result, never
 * as an unhandled 'error' event that kills the whole run.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/lab/sh.js';
import { projectRoot } from '../../src/lab/topology.js';
import { openssl } from '../../src/tls/ca.js';

// More than a pipe's buffer (64 KiB), so the write cannot complete before the reader is gone.
const big = 'x'.repeat(4 << 20);

describe('input to a command that does not read it', () => {
  it('lab commands: the exit status, no crash', async () => {
    const r = await run(['true'], { input: big });
    expect(r.code).toBe(0);
  });

  it('openssl: its output, no crash', async () => {
    await expect(openssl(['version'], big)).resolves.toMatch(/OpenSSL/);
  });
});

describe("provision's own output to a reader that stops early (`provision lab status | head -1`)", () => {
  it('the rest is dropped: exit 0, no EPIPE crash', () => {
    // The reader closes the pipe at once, so every write to it fails with EPIPE.
    const r = spawnSync('bash', ['-c', 'node bin/provision.js --help | (exec 0<&-; sleep 1); echo "status=${PIPESTATUS[0]}"'], {
      cwd: projectRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.stdout.trim()).toBe('status=0');
  });
});

/**
 * A local command that exits without reading its stdin (openssl `req -x509`, seen under load in
 * CI) makes the write to it fail with EPIPE. That must come back as the command's result, never
 * as an unhandled 'error' event that kills the whole run.
 */
import { describe, expect, it } from 'vitest';
import { run } from '../../src/lab/sh.js';
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

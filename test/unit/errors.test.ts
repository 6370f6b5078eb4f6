import { describe, expect, it } from 'vitest';
import { ProvisionError, isConnectionLost } from '../../src/errors.js';

describe('isConnectionLost: by the error code, never by its text', () => {
  it('a lost connection (CONNECT) is lost, whatever it says', () => {
    expect(isConnectionLost(new ProvisionError('CONNECT', 'connection to a lost: Keepalive timeout'))).toBe(true);
    expect(isConnectionLost(new ProvisionError('CONNECT', 'connection to a is closed'))).toBe(true);
  });

  it('a command that timed out while printing "lost" or "keepalive" is a timeout, not an unreachable host', () => {
    expect(isConnectionLost(new ProvisionError('TIMEOUT', 'command timed out after 30 s on a: tail -f log\nlast output:\npackets lost; keepalive sent'))).toBe(
      false,
    );
    expect(isConnectionLost(new ProvisionError('COMMAND', 'connection lost'))).toBe(false);
    expect(isConnectionLost(new Error('connection lost'))).toBe(false);
  });
});

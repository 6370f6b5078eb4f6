import { describe, expect, it } from 'vitest';
import { FakeConnection } from '../helpers/fake-connection.js';

describe('FakeConnection', () => {
  it('answers commands with the handler and records them', async () => {
    const c = new FakeConnection('node1', (cmd) => (cmd === 'fail' ? { exitCode: 2, stderr: 'nope\n' } : { stdout: `ran ${cmd}\n` }));
    expect(await c.exec('echo', { become: true })).toMatchObject({ command: 'echo', exitCode: 0, stdout: 'ran echo\n', stderr: '' });
    expect(await c.exec('fail')).toMatchObject({ exitCode: 2, stderr: 'nope\n' });
    expect(c.commands).toEqual(['echo', 'fail']);
    expect(c.execs[0]!.opts).toEqual({ become: true });
  });

  it('keeps files in memory and records writes', async () => {
    const c = new FakeConnection('node1', undefined, { '/etc/a': 'A' });
    expect((await c.readFile('/etc/a'))!.toString()).toBe('A');
    expect(await c.readFile('/etc/b')).toBeNull();
    await c.writeFile('/etc/b', 'B', { mode: 0o600, owner: 'etcd' });
    expect(c.text('/etc/b')).toBe('B');
    expect(c.files.get('/etc/b')).toMatchObject({ mode: 0o600, owner: 'etcd' });
    expect(c.writes.map((w) => w.path)).toEqual(['/etc/b']);
    await c.close();
    await expect(c.exec('x')).rejects.toMatchObject({ code: 'CONNECT' });
  });
});

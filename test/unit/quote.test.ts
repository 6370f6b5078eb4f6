import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { sudoWrap } from '../../src/connection/exec.js';
import { quote, shellJoin } from '../../src/connection/quote.js';
import { file } from '../../src/facts/file.js';
import { commandOp } from '../../src/operations/command.js';
import { fakeCtx } from './operations/helpers.js';
import { installFakeSudo } from '../helpers/ssh-server.js';

/** Runs sh -c 'printf %s "$@"' x <quoted> through a second shell, as a remote command line would be. */
function viaShell(...quoted: string[]): { out: Buffer; argc: number } {
  const line = `sh -c 'printf %s "$@"; printf "\\n%s" "$#" >&2' x ${quoted.join(' ')}`;
  const p = spawnSync('sh', ['-c', line]);
  if (p.status !== 0) throw new Error(`sh failed: ${p.stderr.toString()}`);
  return { out: p.stdout, argc: Number(p.stderr.toString().trim().split('\n').pop()) };
}

const HOSTILE = [
  '$(rm -rf /)',
  '`id`',
  'a; rm -rf /',
  'a | cat /etc/passwd',
  'a && b || c',
  'line1\nline2',
  "it's",
  "''",
  '"double" quoted',
  '*',
  '/etc/*.conf',
  '?',
  '[abc]',
  '~root',
  '$HOME',
  '${IFS}',
  '\\',
  'back\\slash\\',
  'tab\there',
  ' leading and trailing ',
  '-rf',
  '--help',
  '-',
  'ünïcødé ✓ 日本',
  '!event',
  '#comment',
  'a>b<c',
  '&',
  '\r\n',
  "'; echo pwned; '",
  '{a,b}',
];

describe('quote', () => {
  it('leaves safe strings bare', () => {
    expect(quote('abc')).toBe('abc');
    expect(quote('/etc/etcd/etcd.conf')).toBe('/etc/etcd/etcd.conf');
    expect(quote('key=value,a:b@c%d+e-f')).toBe('key=value,a:b@c%d+e-f');
    expect(quote('-rf')).toBe('-rf');
  });

  it('quotes the empty string', () => {
    expect(quote('')).toBe("''");
    expect(viaShell(quote('')).argc).toBe(1);
  });

  it("escapes single quotes as '\\''", () => {
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote('a b')).toBe("'a b'");
  });

  it('rejects NUL bytes', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/);
  });

  it.each(HOSTILE)('passes %j through sh unchanged', (s) => {
    const { out, argc } = viaShell(quote(s));
    expect(argc).toBe(1);
    expect(out.toString('utf8')).toBe(s);
  });

  it('shellJoin keeps arguments apart', () => {
    expect(shellJoin(['echo', 'a b', "c'd", ''])).toBe("echo 'a b' 'c'\\''d' ''");
    const { out, argc } = viaShell(shellJoin(['a b', '', '$x', '*']));
    expect(argc).toBe(4);
    expect(out.toString()).toBe('a b$x*');
  });

  it('round-trips arbitrary strings byte for byte (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')),
        (s) => {
          const { out, argc } = viaShell(quote(s));
          expect(argc).toBe(1);
          expect(out.equals(Buffer.from(s, 'utf8'))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('round-trips lists of arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-ascii', maxLength: 10 }), { maxLength: 5 }), (args) => {
        const { out, argc } = viaShell(shellJoin(args));
        expect(argc).toBe(args.length);
        expect(out.toString()).toBe(args.join(''));
      }),
      { numRuns: 100 },
    );
  });
});

/** Pieces of shell syntax that would do something if a value were pasted in unquoted. */
const FRAGMENTS = [
  '$(',
  ')',
  '`',
  "'",
  '"',
  '\\',
  '$',
  '{',
  '}',
  ';',
  '&',
  '|',
  '<',
  '>',
  '*',
  '?',
  '[',
  ']',
  '~',
  '#',
  '!',
  '\n',
  '\t',
  ' ',
  '\r',
  '$IFS',
  '${x:-y}',
  "'\\''",
  '-',
  '--',
  '=',
  '%',
  'é',
  '✓',
  '\u202e',
  '\x1b',
  'rm -rf /',
  'touch pwned',
  'a',
];
const hostile = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quote-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs a command line with /bin/sh in `cwd`; a stray `touch pwned` would leave a file there. */
function sh(line: string, cwd = tmp, env: NodeJS.ProcessEnv = {}): { stdout: Buffer; stderr: string; status: number | null } {
  const p = spawnSync('/bin/sh', ['-c', line], { cwd, env: { ...process.env, ...env } });
  return { stdout: p.stdout, stderr: p.stderr.toString(), status: p.status };
}

describe('hostile values through the command lines the provisioner builds (property, real /bin/sh)', () => {
  const printArgs = (args: string[]) => shellJoin(['printf', '%s\\0', ...args]);
  const argsOf = (out: Buffer) => out.toString('utf8').split('\0').slice(0, -1);

  it('shell syntax assembled into one value arrives as that value, and runs nothing', () => {
    fc.assert(
      fc.property(fc.array(hostile, { minLength: 1, maxLength: 4 }), (args) => {
        const r = sh(printArgs(args));
        expect(r.status).toBe(0);
        expect(argsOf(r.stdout)).toEqual(args);
        expect(fs.existsSync(path.join(tmp, 'pwned'))).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it('through sudo (two shells deep: sudo ... -- sh -c <script>), as become runs every command', () => {
    const bin = installFakeSudo(path.join(tmp, 'bin'));
    const env = { PATH: `${bin}:${process.env.PATH}`, FAKE_SUDO_NOPASSWD: '1' };
    const spec = { user: 'root', prompt: '[sudo via provision, key=abc] password:', okMarker: 'PROVISION-OK-abc' };
    fc.assert(
      fc.property(fc.array(hostile, { minLength: 1, maxLength: 3 }), (args) => {
        const r = sh(sudoWrap(printArgs(args), spec), tmp, env);
        expect(r.status, r.stderr).toBe(0);
        const out = r.stdout.toString('utf8');
        expect(out.startsWith(`${spec.okMarker}\n`)).toBe(true);
        expect(argsOf(Buffer.from(out.slice(spec.okMarker.length + 1)))).toEqual(args);
        expect(fs.existsSync(path.join(tmp, 'pwned'))).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('the command operation: an argv and a chdir with hostile names run as given', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 3 }), hostile, async (args, dirName) => {
        // A directory name holds anything but "/" (and NUL).
        const dir = path.join(tmp, `d${n++}-${dirName.replace(/\//g, '_')}`);
        fs.mkdirSync(dir);
        const { ctx } = fakeCtx();
        const plan = await commandOp.plan(ctx, { cmd: ['sh', '-c', 'printf "%s\\0" "$PWD" "$@"', 'sh', ...args], chdir: dir });
        const step = plan.steps[0]!;
        if (step.kind !== 'command') throw new Error('expected a command step');
        const r = sh(step.command);
        expect(r.status, r.stderr).toBe(0);
        expect(argsOf(r.stdout)).toEqual([dir, ...args]);
      }),
      { numRuns: 60 },
    );
  });

  it('the file fact reads a file whose name is hostile (the path is "$1", never pasted into the script)', () => {
    let n = 0;
    fc.assert(
      fc.property(hostile, (name) => {
        const p = path.join(tmp, `f${n++}-${name.replace(/\//g, '_')}`);
        fs.writeFileSync(p, `content of ${name}`);
        const r = sh(file.command({ path: p }));
        const f = file.parse(r.stdout.toString('utf8'), r.status ?? -1, { path: p }, r.stderr);
        expect(f).toMatchObject({ exists: true, type: 'file', content: `content of ${name}` });
      }),
      { numRuns: 60 },
    );
  });
});

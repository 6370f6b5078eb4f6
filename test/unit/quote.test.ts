import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { quote, shellJoin } from '../../src/connection/quote.js';

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
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')), (s) => {
        const { out, argc } = viaShell(quote(s));
        expect(argc).toBe(1);
        expect(out.equals(Buffer.from(s, 'utf8'))).toBe(true);
      }),
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

/**
 * POSIX shell quoting. Every value that ends up in a remote command line goes through quote().
 * Same rules as google/zx `quote`: safe strings pass bare, everything else is wrapped in single
 * quotes with each `'` written as `'\''`. Inside single quotes the shell interprets nothing, so
 * `$`, backticks, `\`, newlines, globs and non-ASCII bytes all arrive literally.
 */

const SAFE = /^[A-Za-z0-9_/.,:=@%+-]+$/;

export function quote(value: string): string {
  if (typeof value !== 'string') throw new TypeError(`quote: expected a string, got ${typeof value}`);
  if (value.includes('\0')) throw new Error('quote: a shell argument cannot contain a NUL byte');
  if (value === '') return "''";
  if (SAFE.test(value)) return value;
  return "'" + value.replace(/'/g, "'\\''") + "'";
}

/** Quote each argument and join them with spaces: the result is one shell command line. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/**
 * Quote-safe, length-limited rendering of user text inside messages: control and
 * invisible formatting characters (bidi overrides, zero-width spaces) are escaped so that
 * what the terminal shows is what the file holds.
 */
export function short(s: string, max = 60): string {
  const clean = JSON.stringify(s)
    .slice(1, -1)
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/gu, (c) => {
      const cp = c.codePointAt(0)!;
      return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
    });
  const chars = [...clean];
  return chars.length > max ? chars.slice(0, max).join('') + '...' : clean;
}

/**
 * Text that is safe to write to a terminal: remote output, file contents and names can hold
 * escape sequences (clear the screen, rewrite a line, change the window title) or bidi
 * overrides; they are shown escaped (\x1b, \u202e, \r) instead. Newlines, tabs and CRLF
 * line ends stay.
 */
export function printable(s: string): string {
  return s.replace(/\r(?!\n)/g, '\\r').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

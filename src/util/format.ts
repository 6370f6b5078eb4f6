/** A file mode as four octal digits: 0644, 0600, 2755. */
export const formatMode = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** UTC time for file names, to the second: 20261202T071500 (Z appended when `zone`). */
export const fileStamp = (date = new Date(), zone = false): string =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, zone ? 'Z' : '');

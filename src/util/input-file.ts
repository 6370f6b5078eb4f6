import fs from 'node:fs';
import { ProvisionError } from '../errors.js';

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

/** The text of an inventory or playbook file, or a one-line error saying why not. */
export function readInputFile(file: string, what: string, code: 'INVENTORY' | 'PLAYBOOK'): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    const why = errno ? (ERRNO_TEXT[errno] ? `${ERRNO_TEXT[errno]} (${errno})` : errno) : (e as Error).message;
    throw new ProvisionError(code, `cannot read ${what} ${file}: ${why}`, {
      hint: what === 'inventory' ? 'usage: provision <inventory.yaml> [--playbook FILE]' : 'give the playbook with --playbook FILE',
    });
  }
}

/**
 * The options every command takes (-i, -e, -k, -K, the password files) and their usage lines,
 * apart from the code that reads them (./ansible-options.ts): main.ts imports only this, so that
 * `provision --help` loads neither the SSH client nor the YAML parser.
 */
import { ProvisionError } from '../errors.js';

/** parseArgs options every command takes. */
export const COMMON_OPTIONS = {
  inventory: { type: 'string', short: 'i' },
  'extra-vars': { type: 'string', short: 'e', multiple: true },
  'ask-pass': { type: 'boolean', short: 'k' },
  'ask-become-pass': { type: 'boolean', short: 'K' },
  'become-password-file': { type: 'string' },
  'connection-password-file': { type: 'string' },
} as const;

export const COMMON_USAGE = `  -i INVENTORY      the inventory (instead of the first argument), YAML or INI
  -e, --extra-vars K=V | @FILE | JSON
                    variables above every level of the inventory (repeatable)
  -k, --ask-pass    ask for the SSH password (hosts whose inventory gives none)
  -K, --ask-become-pass
                    ask for the sudo password (hosts whose inventory gives none)
  --become-password-file FILE, --connection-password-file FILE
                    the same, from the first line of FILE (for scripts)`;

export interface CommonValues {
  inventory?: string;
  'extra-vars'?: string[];
  'ask-pass'?: boolean;
  'ask-become-pass'?: boolean;
  'become-password-file'?: string;
  'connection-password-file'?: string;
}

/** The inventory file: `-i FILE`, or the first positional argument (not both). */
export function inventoryArg(values: CommonValues, positionals: string[], usage: string): { file: string; rest: string[] } {
  if (values.inventory !== undefined) return { file: values.inventory, rest: positionals };
  const [file, ...rest] = positionals;
  if (file === undefined) throw new ProvisionError('USAGE', 'no inventory given', { hint: usage });
  return { file, rest };
}

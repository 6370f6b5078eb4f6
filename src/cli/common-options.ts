/**
 * The options every command takes (see ./ansible-options.ts for what they do). Apart from
 * the code that reads them so that `provision --help` loads nothing but this.
 */
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

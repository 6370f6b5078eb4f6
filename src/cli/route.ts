/** Which command a command line asks for: `provision <inventory> exec|status ...`, or a run. */

/** Options (of any command) that take a value, so that the value is not taken for a word. */
const WITH_VALUE = new Set([
  '--playbook',
  '-p',
  '--limit',
  '-l',
  '--forks',
  '-f',
  '--inventory',
  '-i',
  '--extra-vars',
  '-e',
  '--become-password-file',
  '--connection-password-file',
  '--timeout',
  '--to',
  '--keep',
  '--snapshot',
]);

export type Command = 'exec' | 'status' | 'backup' | 'restore' | 'run';

const COMMANDS = new Set<string>(['exec', 'status', 'backup', 'restore']);

export function commandOf(argv: string[]): Command {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (WITH_VALUE.has(a)) i++;
    else if (!a.startsWith('-')) words.push(a);
  }
  // The first word is the inventory, unless -i gave it.
  const hasI = argv
    .slice(0, argv.includes('--') ? argv.indexOf('--') : undefined)
    .some((a) => a === '-i' || a === '--inventory' || a.startsWith('--inventory='));
  // `provision backup|restore <inventory>` (the command first) as well as `provision <inventory> backup`.
  if (!hasI && (words[0] === 'backup' || words[0] === 'restore')) return words[0];
  const word = hasI ? words[0] : words[1];
  return word !== undefined && COMMANDS.has(word) ? (word as Command) : 'run';
}

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
]);

export type Command = 'exec' | 'status' | 'run';

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
  const word = hasI ? words[0] : words[1];
  return word === 'exec' || word === 'status' ? word : 'run';
}

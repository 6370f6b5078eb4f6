import { shellJoin } from '../connection/quote.js';
import { defineFact, UNKNOWABLE } from './types.js';

/** A string runs with `sh -c`; an array is an argv, quoted word by word. */
export const commandLine = (cmd: string | readonly string[]): string => (typeof cmd === 'string' ? shellJoin(['sh', '-c', cmd]) : shellJoin([...cmd]));

/** Exit status 0 of a user's guard command (`unless:`); the user vouches it changes nothing. */
export const commandSucceeds = defineFact<boolean, { cmd: string | string[] }>({
  name: 'command_succeeds',
  command: ({ cmd }) => commandLine(cmd),
  parse: (_stdout, exitCode) => exitCode === 0,
  // Any earlier step may change what an arbitrary command reports.
  predict: (_args, earlier) => (earlier.length > 0 ? UNKNOWABLE : undefined),
});

/**
 * A fact is a read-only probe: a command built from arguments plus a pure parser of its
 * output. Parsers are tested from recorded output.
 */
export interface FactDef<T, A = void> {
  name: string;
  /** Shell command (built with shellJoin) that prints what `parse` reads. Must change nothing. */
  command(args: A): string;
  /** Pure: output of the command -> the fact. */
  parse(stdout: string, exitCode: number, args: A): T;
  /** Run the probe with sudo even when the host's become is off. */
  become?: boolean;
}

export const defineFact = <T, A = void>(def: FactDef<T, A>): FactDef<T, A> => def;

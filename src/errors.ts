/**
 * One error class for everything the user can cause or meet; `code` says which kind.
 * The CLI prints `message` (never a stack) for these and maps `code` to an exit status.
 */
export type ErrorCode =
  | 'INVENTORY' // inventory file is wrong (has file:line:col)
  | 'PLAYBOOK' // playbook file is wrong (has file:line:col)
  | 'USAGE' // bad command line
  | 'CONNECT' // cannot reach or log in to a host
  | 'HOSTKEY' // host key unknown or changed
  | 'AUTH' // authentication or sudo failure
  | 'TIMEOUT' // command or connect timeout
  | 'COMMAND' // a remote command failed
  | 'LAB' // local lab problem
  | 'INTERRUPTED'; // Ctrl-C

export interface SourceLocation {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
}

export class ProvisionError extends Error {
  readonly code: ErrorCode;
  readonly location?: SourceLocation;
  /** What the user can do about it, printed under the message. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, opts: { location?: SourceLocation; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProvisionError';
    this.code = code;
    this.location = opts.location;
    this.hint = opts.hint;
  }

  /** `file:line:col: message` when a location is known. */
  format(): string {
    const where = this.location ? `${this.location.file}:${this.location.line}:${this.location.col}: ` : '';
    return where + this.message + (this.hint ? `\n  hint: ${this.hint}` : '');
  }
}

export const isProvisionError = (e: unknown): e is ProvisionError => e instanceof ProvisionError;

/**
 * The connection to the host is gone (as opposed to a command that failed on it), decided by
 * the error's code alone: a lost connection (keepalive timeout, reset, closed) is a CONNECT
 * error; a command that timed out is a TIMEOUT, whatever its output says.
 */
export const isConnectionLost = (e: unknown): boolean => isProvisionError(e) && e.code === 'CONNECT';

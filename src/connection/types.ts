/** The result of one remote command: the same shape whether it succeeded or not (as execa). */
export interface ExecResult {
  /** The command as sent, with secrets already absent (sudo passwords never appear in it). */
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface ExecOptions {
  /** Run through sudo (become). Defaults to the host's `become` setting. */
  become?: boolean;
  /** Kill the command and throw a TIMEOUT ProvisionError after this long. */
  timeoutMs?: number;
  /** Data written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /**
   * Run in the node's own locale instead of the fixed one (FIXED_LOCALE in ./exec.ts): only
   * for the user's own commands, whose output provision does not read (Ansible's `command`
   * module does the same). Everything else runs with LANG=C.
   */
  nodeLocale?: boolean;
}

export interface WriteFileOptions {
  /** Octal mode as a number, e.g. 0o644. */
  mode?: number;
  owner?: string;
  group?: string;
  become?: boolean;
  /**
   * The plan found a symbolic link at the path and replaces it by a regular file. Without it, a
   * write to a path that is (or whose directory is) a symbolic link is refused.
   */
  replaceLink?: boolean;
}

/**
 * A live session to one host. Commands are shell strings built with `shellJoin()` from
 * src/connection/quote.ts. exec() resolves with non-zero exit codes (it does not throw for
 * them); it throws ProvisionError only for transport failure (CONNECT), timeout (TIMEOUT),
 * or sudo failure (AUTH).
 */
export interface Connection {
  readonly host: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Optional: several read-only commands in one round trip (src/connection/batch.ts), each
   * result as exec() would have given it. Throws as exec() does, for the batch as a whole.
   */
  execMany?(commands: readonly string[], opts?: Omit<ExecOptions, 'stdin'>): Promise<ExecResult[]>;
  /**
   * Optional: whether a call with this become setting runs through sudo (false when the login
   * user is the become user), so that calls differing only in a become that changes nothing
   * can share a batch.
   */
  usesSudo?(become: boolean | undefined): boolean;
  /** File content, or null if the file does not exist. */
  readFile(path: string, opts?: { become?: boolean }): Promise<Buffer | null>;
  /** Atomic write: temp file in the target directory, mode/owner set, then renamed over the target. */
  writeFile(path: string, content: string | Buffer, opts?: WriteFileOptions): Promise<void>;
  close(): Promise<void>;
}

export type HostKeyPolicy = 'strict' | 'accept-new';

/** Everything needed to open a connection; produced from the inventory's host settings. */
export interface ConnectionSettings {
  /** Inventory name of the host (used in messages). */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key files to try, in order; agent from SSH_AUTH_SOCK is tried as well. */
  keyFiles: string[];
  /** Passphrases of protected key files (asked for on the terminal), by the path in keyFiles. */
  keyPassphrases?: Record<string, string>;
  password?: string;
  become: boolean;
  becomeUser: string;
  becomePassword?: string;
  knownHostsFiles: string[];
  hostKeyPolicy: HostKeyPolicy;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** `user@host:port` of a jump host (ProxyJump), already resolved. */
  proxyJump?: { address: string; port: number; user: string };
}

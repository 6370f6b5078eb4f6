/**
 * An in-memory Connection for unit tests: commands go to a handler, files live in a Map.
 * Every exec, read and write is recorded.
 */
import { ProvisionError } from '../../src/errors.js';
import type { Connection, ExecOptions, ExecResult, WriteFileOptions } from '../../src/connection/types.js';

export interface FakeCommandResult {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
}

export type FakeHandler = (command: string, opts: ExecOptions, conn: FakeConnection) => FakeCommandResult | undefined | Promise<FakeCommandResult | undefined>;

export interface FakeFile {
  content: Buffer;
  mode?: number;
  owner?: string;
  group?: string;
}

export interface FakeExec {
  command: string;
  opts: ExecOptions;
  result: ExecResult;
}

export interface FakeWrite {
  path: string;
  content: Buffer;
  opts: WriteFileOptions;
}

export class FakeConnection implements Connection {
  readonly execs: FakeExec[] = [];
  readonly writes: FakeWrite[] = [];
  readonly reads: { path: string; become?: boolean }[] = [];
  readonly files = new Map<string, FakeFile>();
  closed = false;

  /**
   * @param handler answers commands; returning undefined means exit 0 with no output.
   * @param files initial files (path -> content).
   */
  constructor(
    readonly host = 'fake',
    private readonly handler: FakeHandler = () => undefined,
    files: Record<string, string | Buffer> | Map<string, string | Buffer> = {},
  ) {
    const entries = files instanceof Map ? [...files.entries()] : Object.entries(files);
    for (const [p, c] of entries) this.files.set(p, { content: Buffer.from(c) });
  }

  /** Commands executed so far, in order. */
  get commands(): string[] {
    return this.execs.map((e) => e.command);
  }

  /** A file's content as text (undefined if absent). */
  text(path: string): string | undefined {
    return this.files.get(path)?.content.toString('utf8');
  }

  private checkOpen(): void {
    if (this.closed) throw new ProvisionError('CONNECT', `connection to ${this.host} is closed`);
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.checkOpen();
    const started = Date.now();
    const r = (await this.handler(command, opts, this)) ?? {};
    const result: ExecResult = {
      command,
      exitCode: r.exitCode ?? 0,
      stdout: r.stdout ?? '',
      stderr: r.stderr ?? '',
      durationMs: Date.now() - started,
    };
    this.execs.push({ command, opts, result });
    return result;
  }

  async readFile(path: string, opts: { become?: boolean } = {}): Promise<Buffer | null> {
    this.checkOpen();
    this.reads.push({ path, become: opts.become });
    const f = this.files.get(path);
    return f ? Buffer.from(f.content) : null;
  }

  async writeFile(path: string, content: string | Buffer, opts: WriteFileOptions = {}): Promise<void> {
    this.checkOpen();
    const buf = Buffer.from(content);
    this.writes.push({ path, content: buf, opts });
    const prev = this.files.get(path);
    this.files.set(path, {
      content: buf,
      mode: opts.mode ?? prev?.mode,
      owner: opts.owner ?? prev?.owner,
      group: opts.group ?? prev?.group,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

import type { SourceLocation } from '../errors.js';

/** A parsed `when:` condition; evaluate with evaluateWhen() from ./when.js. */
export interface WhenExpr {
  /** The condition as written (for "skipped: when ..." messages). */
  source: string;
  root: WhenNode;
}

export type WhenNode =
  | { kind: 'var'; path: string[] }
  | { kind: 'lit'; value: string | number | boolean | null }
  | { kind: 'not'; expr: WhenNode }
  | { kind: 'and' | 'or'; left: WhenNode; right: WhenNode }
  | { kind: 'eq' | 'ne'; left: WhenNode; right: WhenNode }
  | { kind: 'defined'; path: string[]; negate: boolean };

export interface Task {
  name: string;
  op: string;
  /** Raw argument values; strings may hold `{{ ... }}` templates rendered later. */
  args: Record<string, unknown>;
  /** Handler names (each exists in the play). */
  notify: string[];
  when?: WhenExpr;
  become?: boolean;
  /** At most this many hosts run the task at once (Ansible's throttle); 1 = one host at a time. */
  throttle?: number;
  location: SourceLocation;
}

export interface Play {
  name: string;
  /** Host pattern (see selectHosts in src/inventory/patterns.ts). */
  hosts: string;
  become?: boolean;
  vars: Record<string, unknown>;
  tasks: Task[];
  handlers: Task[];
  location: SourceLocation;
}

export interface Playbook {
  file: string;
  plays: Play[];
}

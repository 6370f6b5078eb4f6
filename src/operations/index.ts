import { commandOp } from './command.js';
import { etcdConfigOp } from './etcd-config.js';
import { etcdUnitOp } from './etcd-unit.js';
import { etcdVerifyOp } from './etcd-verify.js';
import { fileOp } from './file.js';
import { packageOp } from './package.js';
import { serviceOp } from './service.js';
import type { OperationDef } from './types.js';

export * from './types.js';
export { renderEtcdConf, memberUrls, clusterMembers, etcdTlsPaths, memberDataDir, discoveryUrl, ETCD_CONF } from './etcd-conf.js';
export { ETCD_DROPIN } from './etcd-unit.js';
export type { MemberRow } from './etcd-verify.js';

/** Every operation a playbook task may name. */
export const operations = new Map<string, OperationDef<any>>(
  [packageOp, fileOp, commandOp, serviceOp, etcdConfigOp, etcdUnitOp, etcdVerifyOp].map((op) => [op.name, op as OperationDef<any>]),
);

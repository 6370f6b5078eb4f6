import { commandOp } from './command.js';
import { dnsCheckOp, dnsmasqSrvOp } from './dnsmasq-srv.js';
import { etcdTlsOp } from './etcd-tls.js';
import { etcdRestartOp } from './etcd-restart.js';
import { etcdUpgradeOp } from './etcd-upgrade.js';
import { etcdRemoveMembersOp, etcdRetireOp } from './etcd-shrink.js';
import { resolvConfOp } from './resolv-conf.js';
import { etcdConfigOp } from './etcd-config.js';
import { etcdUnitOp } from './etcd-unit.js';
import { etcdVerifyOp } from './etcd-verify.js';
import { fileOp } from './file.js';
import { firewalldOp } from './firewalld.js';
import { packageOp } from './package.js';
import { serviceOp } from './service.js';
import { defineOperation, type OperationDef } from './types.js';

export * from './types.js';
export { renderEtcdConf, memberUrls, clusterMembers, etcdTlsPaths, memberDataDir, discoveryUrl, ETCD_CONF } from './etcd-conf.js';
export { ETCD_DROPIN } from './etcd-unit.js';
export { createRuntime, type ClusterRuntime } from './runtime.js';
export type { MemberRow } from './etcd-verify.js';
export { etcdStartWait } from './etcd-start.js';

/**
 * `flush_handlers`: run the handlers notified so far (as Ansible's meta: flush_handlers). The
 * executor handles it itself; it is registered so the playbook loader knows the name.
 */
export const flushHandlersOp = defineOperation<Record<string, never>>({
  name: 'flush_handlers',
  description: 'Run the handlers notified so far, now rather than at the end of the play.',
  args: {},
  async plan() {
    return { steps: [] };
  },
});

/** Every operation a playbook task may name. */
export const operations = new Map<string, OperationDef<any>>(
  [
    packageOp,
    fileOp,
    commandOp,
    serviceOp,
    resolvConfOp,
    firewalldOp,
    etcdConfigOp,
    etcdUnitOp,
    etcdTlsOp,
    etcdVerifyOp,
    etcdRestartOp,
    etcdUpgradeOp,
    etcdRemoveMembersOp,
    etcdRetireOp,
    dnsmasqSrvOp,
    dnsCheckOp,
    flushHandlersOp,
  ].map((op) => [op.name, op as OperationDef<any>]),
);

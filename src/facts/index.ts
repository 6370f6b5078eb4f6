export * from './types.js';
export { probeFact, predictFact, factKey } from './run.js';
export { rpmPackage, packageUpdate, type RpmPackage, type PackageUpdate } from './rpm.js';
export { file, sha256, MAX_CONTENT, type FileFact } from './file.js';
export { pathExists } from './path.js';
export { systemdUnit, unitName, type SystemdUnit } from './systemd.js';
export { commandSucceeds, commandLine } from './command.js';
export { osRelease, type OsRelease } from './os.js';
export { etcdMembers, etcdHealth, etcdctl, type EtcdMembers, type EtcdMember, type EtcdEndpointHealth, type EtcdQuery, type EtcdTls } from './etcd.js';

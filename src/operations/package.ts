import { shellJoin } from '../connection/quote.js';
import { packageUpdate, rpmPackage } from '../facts/rpm.js';
import type { CommandStep, Step } from '../plan/types.js';
import { cmpWanted } from './rpmvercmp.js';
import { defineOperation, type ArgSpec } from './types.js';
import { argError, factOf, withDefaults } from './util.js';

export interface PackageArgs {
  name: string;
  version?: string;
  state?: 'present' | 'absent' | 'latest';
}

const yum = (verb: string, spec: string, description: string, name: string, state: 'present' | 'absent', version?: string): CommandStep => ({
  kind: 'command',
  description,
  command: shellJoin(['yum', verb, '-y', '--', spec]),
  effects: [{ kind: 'package', name, state, ...(version ? { version } : {}) }],
});

const args: Record<string, ArgSpec> = {
  name: { type: 'string', required: true, description: 'package name' },
  version: { type: 'string', description: "version or version-release, e.g. '3.4.23'" },
  state: { type: 'string', enum: ['present', 'absent', 'latest'], default: 'present' },
};

export const packageOp = defineOperation<PackageArgs>({
  name: 'package',
  description: 'Install, upgrade or remove an RPM package with yum',
  args,
  async plan(ctx, raw) {
    const { name, version, state } = withDefaults(args, raw);
    if (version && state !== 'present') throw argError('package', `version is only allowed with state: present (${name})`);
    const { value: pkg, unknowable } = await factOf(ctx, rpmPackage, { name });
    if (unknowable) ctx.note(`whether ${name} is installed depends on an earlier step`);
    const spec = version ? `${name}-${version}` : name;
    const steps: Step[] = [];
    if (state === 'absent') {
      if (pkg.installed) steps.push(yum('remove', name, `remove ${name}`, name, 'absent'));
    } else if (!pkg.installed) {
      steps.push(yum('install', spec, `install ${spec}`, name, 'present', version));
    } else if (state === 'latest') {
      const up = await ctx.fact(packageUpdate, { name });
      if (up.available) steps.push(yum('upgrade', name, `upgrade ${name}${up.version ? ` to ${up.version}` : ''}`, name, 'present', up.version));
    } else if (version && pkg.versions.length > 0 && !pkg.versions.some((v) => cmpWanted(version, v) === 0)) {
      // A newer wanted version installs over the old; an older one needs downgrade.
      const newer = pkg.versions.every((v) => cmpWanted(version, v) > 0);
      steps.push(yum(newer ? 'install' : 'downgrade', spec, `${newer ? 'upgrade' : 'downgrade'} ${name} to ${version}`, name, 'present', version));
    }
    return { steps };
  },
});

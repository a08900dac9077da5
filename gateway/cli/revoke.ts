import { parseArgs } from 'node:util';
import { adminUrlFor, callAdmin, UsageError } from './common.js';

export const revokeHelp = `escrow revoke (--principal ID | --target NAME | --all) [--admin URL] [--config FILE] [--json]

The kill switch: closes every live task of a principal, every task on a target, or every task, revoking
their leases in the store, in every replica's cache (pub/sub) and at the upstream for dynamic credentials.
Calls the admin API of a running Escrow (default: the config's admin.listen).`;

export async function revokeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      principal: { type: 'string' },
      target: { type: 'string' },
      all: { type: 'boolean' },
      admin: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const query = values.all
    ? 'all=true'
    : values.principal
      ? `principal=${encodeURIComponent(values.principal)}`
      : values.target
        ? `target=${encodeURIComponent(values.target)}`
        : undefined;
  if (!query || [values.all, values.principal, values.target].filter(Boolean).length !== 1) {
    throw new UsageError('give exactly one of --principal, --target, --all');
  }
  const body = (await callAdmin(`/admin/revoke?${query}`, 'POST', adminUrlFor(values.admin, values.config))) as {
    tasks: number;
    leases: number;
  };
  process.stdout.write(
    values.json ? `${JSON.stringify(body)}\n` : `revoked ${body.leases} lease(s) in ${body.tasks} task(s)\n`,
  );
  return 0;
}

import { parseArgs } from 'node:util';
import { ADMIN_OPTIONS, adminAccess, callAdmin } from './admin-client.js';
import { printer, UsageError } from './common.js';

export const revokeHelp = `escrow revoke (--principal ID | --target NAME | --all) [--json]
              [--admin URL] [--token-file FILE] [--cert FILE --key FILE] [--ca FILE] [--config FILE]

The kill switch: closes every live task of a principal, every task on a target, or every task (ambient leases
of targets with requireTask: false included), revoking their leases in the store, in every replica's cache
(pub/sub), on their live connections and at the upstream for dynamic credentials.
Calls the admin API of a running Escrow with the admin credential: --admin or $ESCROW_ADMIN_URL, --token-file or
$ESCROW_ADMIN_TOKEN (or a client certificate), else admin.listen and admin.token from the config's admin section
(nothing else in the config is read).`;

export async function revokeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      principal: { type: 'string' },
      target: { type: 'string' },
      all: { type: 'boolean' },
      ...ADMIN_OPTIONS,
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
  const body = (await callAdmin(`/admin/revoke?${query}`, 'POST', adminAccess(values))) as {
    tasks: number;
    leases: number;
  };
  printer(values.json)(body, `revoked ${body.leases} lease(s) in ${body.tasks} task(s)`);
  return 0;
}

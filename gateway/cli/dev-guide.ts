import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { relative, resolve } from 'node:path';
import { auditSinks } from '../audit/config.js';
import type { Config } from '../config/schema.js';
import { mintDevToken } from '../dev/token.js';

/** Where the guide can point `escrow audit trace`: the first file sink and the first target's key file. */
function traceCommand(config: Config, baseDir: string): string | undefined {
  const sink = auditSinks(config).find((s) => s.startsWith('file:'));
  const value = config.targets[0]?.credential.value;
  if (!sink || typeof value !== 'string' || !value.startsWith('file:')) return undefined;
  const file = (ref: string) => relative(process.cwd(), resolve(baseDir, ref.slice(5))) || '.';
  return `npx escrow audit trace - --file ${file(sink)} < ${file(value)}`;
}

/** Where a listener can be reached from this machine: a wildcard bind is reached on loopback. */
function reachableAddress(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `${address.family === 'IPv6' ? `[${host}]` : host}:${address.port}`;
}

/**
 * The dev default's guide on standard output: a dev token, an open task, and curl lines for the addresses the
 * listeners really have (moved with --listen/--admin or the environment, or port 0).
 */
export async function printDevGuide(
  config: Config,
  baseDir: string,
  listeners: { readonly proxy: Server; readonly admin: Server },
): Promise<void> {
  const token = await mintDevToken(config, baseDir, { ttlSeconds: 8 * 3600 });
  const base = `http://${reachableAddress(listeners.proxy)}`;
  const admin = reachableAddress(listeners.admin);
  const res = await fetch(`${base}/_escrow/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'demo: try Escrow', targets: ['echo', 'ledger'], ttlSeconds: 8 * 3600 }),
  });
  const task = ((await res.json()) as { id?: string }).id ?? '?';
  const auth = '-H "authorization: Bearer $ESCROW_TOKEN" -H "x-escrow-task: $TASK"';
  const trace = traceCommand(config, baseDir);
  process.stdout.write(`
Escrow is running (dev mode: in-memory store, example config, dev keys in .escrow-dev/).
A dev workload token (8 h) and a task on [echo, ledger] are ready.

One line that works as it is (the demo upstream gets the API key; your answer shows it masked):

  curl -s -H "authorization: Bearer ${token}" -H "x-escrow-task: ${task}" ${base}/echo/hello

Then, in a shell:

  export ESCROW_TOKEN=${token}
  export TASK=${task}

  # allowed (200): the upstream saw x-api-key; the echo you get back has it masked
  curl -s ${auth} ${base}/echo/hello; echo

  # denied by policy (403): agents write to a high-sensitivity prod target only with a change ticket
  curl -s -X POST ${auth} -H "content-type: application/json" -d '{"amount":1}' ${base}/ledger/transfers; echo

  # close the task (204): its leases are revoked at once ...
  curl -s -o /dev/null -w '%{http_code}\\n' -X DELETE -H "authorization: Bearer $ESCROW_TOKEN" ${base}/_escrow/tasks/$TASK
  # ... and the first call is now refused (403 task_closed)
  curl -s ${auth} ${base}/echo/hello; echo
${
  trace
    ? `
  # the audit trail: who was given the demo key, for which task, by which decision
  ${trace}
`
    : ''
}
  # metrics and readiness
  curl -s http://${admin}/metrics | grep ^escrow_requests_total
  curl -s http://${admin}/readyz; echo

More tokens: npx escrow token dev     Stop: Ctrl-C
`);
}

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ApproverView } from '../approvals/views.js';
import { reachableUrl } from '../config/listen.js';
import { loadConfig } from '../config/load.js';
import { ADMIN_OPTIONS, adminAccess, callAdmin } from './admin-client.js';
import { configPath, printer, UsageError } from './common.js';

export const approvalsHelp = `escrow approvals list [--human-token-file FILE|-] [--url URL] [--admin URL] [--config FILE] [--json]
escrow approvals show <id> [--human-token-file FILE|-] [--url URL] [--admin URL] [--config FILE] [--json]
escrow approvals approve <id> [--comment TEXT] --human-token-file FILE|- [--url URL] [--config FILE] [--json]
escrow approvals deny <id> [--comment TEXT] --human-token-file FILE|- [--url URL] [--config FILE] [--json]

What waits for a person (docs/approvals.md). approve and deny need a person's own token (a Human principal
from the identity provider, in a file, on standard input with -, or in $ESCROW_HUMAN_TOKEN): they call
POST /_escrow/approvals/<id> on the proxy listener (--url, $ESCROW_URL, else the config's proxy.listen), and
Cedar decides whether this person may. list and show work with the person's token (what they may decide) or,
without one, through the admin API (--admin, else the config's admin.listen). The admin credential never
approves: a deployment's secret is not a person.`;

interface Problem {
  code?: string;
  reason?: string;
  detail?: string;
}

function humanToken(file: string | undefined): string | undefined {
  if (file !== undefined) return readFileSync(file === '-' ? 0 : file, 'utf8').trim();
  return process.env.ESCROW_HUMAN_TOKEN?.trim() || undefined;
}

/** `--url`, `$ESCROW_URL`, or the config's proxy listener (an any-address listener is reached on loopback). */
function proxyUrl(flag: string | undefined, configFlag: string | undefined): string {
  const given = flag ?? process.env.ESCROW_URL;
  if (given) return given.replace(/\/+$/, '');
  return reachableUrl(loadConfig(configPath(configFlag).path).config.proxy.listen, 'http');
}

async function callProxy(url: string, path: string, token: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${url}/_escrow${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new Error(`cannot reach Escrow at ${url} (pass --url URL)`);
  }
  const answer = (await res.json().catch(() => ({}))) as Problem;
  if (!res.ok) {
    const why = [answer.code, answer.reason].filter(Boolean).join(', ');
    throw new Error(`${res.status} ${why}: ${answer.detail ?? ''}`.trim());
  }
  return answer;
}

/**
 * Text an agent wrote (its intent, ids from its token) reaches a person's terminal: control characters are shown
 * escaped, so that no escape sequence can rewrite what the person reads before approving.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Every string of a view made printable (the JSON output keeps the view as it is: JSON escapes itself). */
function safe<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map(safe) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, safe(v)])) as T;
  }
  return value;
}

const what = (a: ApproverView) =>
  a.kind === 'task' ? `open a task on ${a.targets.join(', ')}` : `${a.method} ${a.targets[0]}${a.path}${a.query}`;

const line = (a: ApproverView) =>
  `${a.id}  ${a.state.padEnd(9)} ${what(a)}  by ${a.agent.id}  task ${a.task.id} ${JSON.stringify(a.task.intent)}  expires ${a.expiresAt}`;

function details(a: ApproverView): string {
  const d = a.decision;
  return [
    line(a),
    `  policies  ${a.policies.join(', ')} (agent's decision ${a.decisionId})`,
    ...(a.kind === 'request' ? [`  covers    ${a.uses} request(s) within ${a.windowSeconds} s of the decision`] : []),
    ...(d
      ? [
          `  ${d.outcome.padEnd(9)} by ${d.by.type} ${d.by.id} (issuer ${d.by.issuer}) at ${d.at}${d.comment ? `: ${JSON.stringify(d.comment)}` : ''}`,
        ]
      : []),
  ].join('\n');
}

export async function approvalsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      ...ADMIN_OPTIONS,
      'human-token-file': { type: 'string' },
      url: { type: 'string' },
      comment: { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const print = printer(values.json);
  const token = humanToken(values['human-token-file']);
  const id = positionals[0];
  const asPerson = (path: string, body?: unknown) => callProxy(proxyUrl(values.url, values.config), path, token!, body);
  const asAdmin = (path: string) => callAdmin(path, 'GET', adminAccess(values));
  if (sub === 'list') {
    const { approvals } = (await (token ? asPerson('/approvals') : asAdmin('/admin/approvals'))) as {
      approvals: ApproverView[];
    };
    const text = approvals.length ? approvals.map((a) => line(safe(a))).join('\n') : '(nothing waits for a person)';
    print({ approvals }, text);
    return 0;
  }
  if (!id || !['show', 'approve', 'deny'].includes(sub ?? '')) {
    throw new UsageError('usage: escrow approvals list|show <id>|approve <id>|deny <id>');
  }
  const path = `/approvals/${encodeURIComponent(id)}`;
  if (sub === 'show') {
    const approval = (await (token ? asPerson(path) : asAdmin(`/admin${path}`))) as ApproverView;
    print(approval, details(safe(approval)));
    return 0;
  }
  if (!token) throw new UsageError(`${sub} needs a person's token: --human-token-file FILE|- or $ESCROW_HUMAN_TOKEN`);
  const decision = sub === 'approve' ? 'approve' : 'deny';
  const body = { decision, ...(values.comment ? { comment: values.comment } : {}) };
  const decided = (await asPerson(path, body)) as ApproverView;
  print(
    decided,
    `${decision === 'approve' ? 'approved' : 'denied'} ${decided.id}: ${what(decided)} for ${decided.agent.id}`,
  );
  return 0;
}

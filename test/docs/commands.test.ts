import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Block, pages, prepare, ROOT, shellBlocks } from './commands.js';

/**
 * The shell commands of README.md and docs/ run as written against the fresh build (`npm test` builds dist/
 * first), so they cannot drift again: the README once told a new operator to curl a `billing` target with a
 * `$WORKLOAD_TOKEN` that `npm start` does not have. Every ```sh block carries a marker (commands.ts): `server`
 * blocks start in the background, `run` blocks run in page order in one shell (an `export` carries over, as for
 * a reader) and must exit 0 and print what their `expect:` says; `skip` blocks say why (Docker, a cluster, real
 * API keys, the suite itself). After them, the lines the dev guide of `npm start` prints run too, and `npm start`
 * runs once more with `--listen/--admin/--upstream-port`.
 *
 * All of it runs in a network namespace of its own, so the documented ports (8080, 9090, 9001) are used as
 * written without meeting other tests or engineers on this machine.
 */

const blocks = pages().flatMap(shellBlocks);
const runnable = blocks.filter((b) => b.mode === 'run');
const servers = blocks.filter((b) => b.mode === 'server');

/** `unshare` flags that give this process a network namespace here (root: -n; else a user namespace too). */
function namespaceFlags(): string[] | undefined {
  for (const flags of [['-n'], ['-rn']]) {
    const probe = spawnSync('unshare', [...flags, 'true'], { timeout: 10_000 });
    if (!probe.error && probe.status === 0) return flags;
  }
  return undefined;
}

// Bash, not template placeholders: `${groups[@]}` is the runner's list of process groups to stop.
const STOP = 'for g in "$' + '{groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done';

const WAIT = `wait_for() { for _ in $(seq 1 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
guide_ready() { for _ in $(seq 1 300); do grep -q 'More tokens' "$1" && return 0; sleep 0.1; done; return 1; }`;

/** The script run inside the namespace: servers, blocks, the printed guide, the port flags. */
function runner(out: string): string {
  const lines = ['set -u', 'ip link set lo up', `cd ${JSON.stringify(ROOT)}`, 'groups=()', `trap '${STOP}' EXIT`, WAIT];
  servers.forEach((b, i) => {
    writeFileSync(join(out, `server${i}.sh`), prepare(b.code));
    lines.push(`setsid bash ${out}/server${i}.sh > ${out}/server${i}.log 2>&1 & groups+=($!)`);
  });
  lines.push(
    `wait_for http://127.0.0.1:9090/healthz && guide_ready ${out}/server0.log || echo failed > ${out}/server.failed`,
  );
  runnable.forEach((b, i) => {
    writeFileSync(join(out, `block${i}.sh`), prepare(b.code));
    lines.push(`{ source ${out}/block${i}.sh; } > ${out}/block${i}.out 2>&1 < /dev/null`);
    lines.push(`echo $? > ${out}/block${i}.rc`);
  });
  // The guide's lines (after the blocks: it closes its own task), each must succeed.
  lines.push(
    `grep -E '^  (export|curl|npx) ' ${out}/server0.log | sed 's/^  //' > ${out}/guide.sh`,
    `bash -e ${out}/guide.sh > ${out}/guide.out 2>&1 < /dev/null; echo $? > ${out}/guide.rc`,
    `${STOP}; wait`,
    'groups=()',
    `setsid npm start --ignore-scripts -- --listen 127.0.0.1:18080 --admin 127.0.0.1:19090 --upstream-port 19001 > ${out}/flags.log 2>&1 & groups+=($!)`,
    `wait_for http://127.0.0.1:19090/healthz && guide_ready ${out}/flags.log || echo failed > ${out}/flags.failed`,
    `grep -m1 -E '^  curl ' ${out}/flags.log | sed 's/^  //' > ${out}/flags.sh`,
    `bash -e ${out}/flags.sh > ${out}/flags.out 2>&1 < /dev/null; echo $? > ${out}/flags.rc`,
  );
  return `${lines.join('\n')}\n`;
}

describe('every shell block of README.md and docs/ is classified', () => {
  it.each(pages())('%s: each ```sh block says whether the docs test runs it, and a skip says why', (page) => {
    const unclassified = shellBlocks(page).filter((b) => b.mode === 'unmarked' || (b.mode === 'skip' && !b.reason));
    expect(unclassified.map((b) => `${b.page}:${b.line}`)).toEqual([]);
  });

  it('runs the README quick start as the server and at least the README, agents and CLI commands', () => {
    expect(servers.map((b) => b.page)).toEqual(['README.md']);
    expect(new Set(runnable.map((b) => b.page))).toEqual(new Set(['README.md', 'docs/agents.md', 'docs/cli.md']));
  });
});

const flags = namespaceFlags();

describe.skipIf(flags === undefined && !process.env.CI)('the documented commands work against a fresh build', () => {
  let out: string;
  const read = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : '');

  beforeAll(() => {
    expect(flags, 'no network namespace here (unshare -n / -rn)').toBeDefined();
    out = mkdtempSync(join(tmpdir(), 'escrow-docs-'));
    writeFileSync(join(out, 'runner.sh'), runner(out));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ESCROW_')));
    const run = spawnSync('unshare', [...flags!, 'bash', join(out, 'runner.sh')], {
      env: { ...env, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' },
      encoding: 'utf8',
      timeout: 240_000,
      killSignal: 'SIGKILL',
    });
    if (run.error) throw run.error;
  }, 300_000);
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('starts `npm start` and prints its guide', () => {
    expect(read('server.failed'), read('server0.log')).toBe('');
    expect(read('server0.log')).toContain('Escrow is running');
  });

  it.each(runnable.map((b, i) => [`${b.page}:${b.line}`, i, b] as const))(
    '%s exits 0 and prints what it promises',
    (_where, i, block: Block) => {
      const output = read(`block${i}.out`);
      expect(read(`block${i}.rc`).trim(), output).toBe('0');
      for (const text of block.expect) expect(output, output).toContain(text);
    },
  );

  it('runs every line the dev guide prints: allowed, denied by policy, task closed, then refused, audit, metrics', () => {
    const output = read('guide.out');
    expect(read('guide.rc').trim(), output).toBe('0');
    expect(output).toContain('"upstream": "demo"');
    expect(output).toContain('"code":"policy_denied"');
    expect(output).toMatch(/^204$/m);
    expect(output).toContain('"code":"task_closed"');
    expect(output).toMatch(/^escrow_requests_total\{/m);
    expect(output).toContain('"status":"ready"');
  });

  it('moves off 8080/9090/9001 with npm start -- --listen/--admin/--upstream-port, and the guide follows', () => {
    expect(read('flags.failed'), read('flags.log')).toBe('');
    const log = read('flags.log');
    expect(log).toContain('http://127.0.0.1:18080/echo/hello');
    expect(log).toContain('http://127.0.0.1:19090/metrics');
    expect(log).not.toMatch(/127\.0\.0\.1:(8080|9090)\b/);
    const output = read('flags.out');
    expect(read('flags.rc').trim(), output).toBe('0');
    expect(output).toContain('"host": "127.0.0.1:19001"');
  });
});

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EscrowProblem } from '../../examples/agents/escrow-client.js';
import { ordersReport } from '../../examples/databases/orders-report.js';
import { parseConfig } from '../../gateway/config/load.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { superuser } from '../support/postgres.js';

const EXAMPLE = resolve(import.meta.dirname, '../../examples/databases/escrow.yaml');
const q = pg.escapeIdentifier;

/** The example's target entry, exactly as documented, with this test's own database, template and port. */
function exampleTarget(database: string, template: string, rolePrefix: string): Record<string, unknown> {
  const config = parse(readFileSync(EXAMPLE, 'utf8')) as { targets: Record<string, Record<string, unknown>>[] };
  const target = config.targets.find((t) => t.name === ('orders-db' as unknown));
  if (!target) throw new Error('examples/databases/escrow.yaml has no target orders-db');
  return {
    ...target,
    listen: '127.0.0.1:0',
    attributes: { ...target.attributes, database },
    credential: { ...target.credential, template, rolePrefix },
  };
}

describe('examples/databases: an agent job reads a database through Escrow and leaves no role behind', () => {
  const suffix = randomBytes(4).toString('hex');
  const database = `escrowtest_example_${suffix}`;
  const template = `escrowtest_example_reader_${suffix}`;
  const rolePrefix = `ex${suffix}_`;
  let escrow: TestEscrow;

  const roles = async () => {
    const c = await superuser();
    try {
      return (await c.query('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [rolePrefix])).rows;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    const setup = readFileSync(resolve(import.meta.dirname, '../../examples/databases/setup.sql'), 'utf8')
      .replaceAll('escrow_example_reader', template)
      .replaceAll('escrow_example', database);
    const [server, inDb] = setup.split('\\connect');
    const admin = await superuser();
    for (const statement of server!
      .split(';')
      .map((s) => s.replace(/--.*$/gm, '').trim())
      .filter(Boolean)) {
      await admin.query(statement);
    }
    await admin.end();
    const db = await superuser(database);
    await db.query(inDb!.replace(/^[^\n]*\n/, '')); // drop the `\connect <db>` line itself
    await db.end();
    escrow = await startEscrow({ targets: [exampleTarget(database, template, rolePrefix)] });
  });

  afterAll(async () => {
    await escrow?.close();
    const admin = await superuser();
    await admin.query('SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = $1', [database]);
    await admin.query(`DROP DATABASE IF EXISTS ${q(database)}`);
    for (const { rolname } of await roles()) await admin.query(`DROP ROLE IF EXISTS ${q(rolname)}`);
    await admin.query(`DROP ROLE IF EXISTS ${q(template)}`);
    await admin.end();
  });

  it('the example config is valid as it stands', () => {
    const config = parseConfig(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
    expect(config.targets[0]).toMatchObject({ protocol: 'postgres', listen: '127.0.0.1:6432' });
  });

  it('returns the totals, and the task’s role is gone once the job closed its task', async () => {
    const token = await escrow.token();
    const agent = { url: escrow.url, token: async () => token };
    const rows = await ordersReport(agent, { host: '127.0.0.1', port: escrow.gw.postgres[0]!.port, database });
    expect(rows).toEqual([
      { customer: 'Acme', total: '160.25' },
      { customer: 'Globex', total: '75.50' },
    ]);
    await escrow.gw.revoker.queue.drain();
    expect(await roles()).toEqual([]);
  });

  it('the repository policies keep the target to the database it names', async () => {
    const token = await escrow.token();
    const agent = { url: escrow.url, token: async () => token };
    const error = await ordersReport(agent, {
      host: '127.0.0.1',
      port: escrow.gw.postgres[0]!.port,
      database: 'postgres',
    }).catch((e: unknown) => e as { code?: string });
    expect(error).not.toBeInstanceOf(EscrowProblem);
    expect((error as { code?: string }).code).toBe('42501');
  });
});

/**
 * An agent job that reads a database through Escrow: it opens a task for the database target, connects with
 * the task id as the user and its workload token as the password, runs its query, and closes the task (which
 * ends the task's sessions and drops its database role). Run it as examples/databases/escrow.yaml says.
 */
import pg from 'pg';
import { agentFromEnv, closeTask, type EscrowAgent, isMain, openTask } from '../agents/escrow-client.js';

/** Where the agent reaches the database target's listener. */
export interface DatabaseEndpoint {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** `ssl` as node-postgres takes it (a production listener requires TLS); absent on a loopback dev listener. */
  readonly ssl?: pg.ClientConfig['ssl'];
}

export interface CustomerTotal {
  readonly customer: string;
  readonly total: string;
}

/** Totals per customer, read under a task of its own that is closed whatever happens. */
export async function ordersReport(agent: EscrowAgent, db: DatabaseEndpoint, target = 'orders-db') {
  const task = await openTask(agent, { intent: 'weekly orders report', targets: [target], ttlSeconds: 300 });
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    database: db.database,
    user: task.id, // the task is the user name
    password: await agent.token(), // the workload token is the password
    ...(db.ssl === undefined ? {} : { ssl: db.ssl }),
  });
  try {
    await client.connect();
    const rows = await client.query<CustomerTotal>(
      'SELECT customer, sum(total)::text AS total FROM orders GROUP BY customer ORDER BY customer',
    );
    return rows.rows;
  } finally {
    await client.end().catch(() => {});
    await closeTask(agent, task.id);
  }
}

if (isMain(import.meta.url)) {
  const rows = await ordersReport(agentFromEnv(), { host: '127.0.0.1', port: 6432, database: 'escrow_example' });
  for (const row of rows) console.log(`${row.customer}\t${row.total}`);
}

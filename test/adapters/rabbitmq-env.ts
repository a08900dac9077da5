/** The real RabbitMQ on this machine: its management API, enabled on demand. */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

/** The broker's management API; ESCROW_TEST_RABBITMQ_URL points the tests elsewhere (or, to check the skip, nowhere). */
export const MANAGEMENT_URL = process.env.ESCROW_TEST_RABBITMQ_URL ?? 'http://127.0.0.1:15672';
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

/** True when the RabbitMQ CLI is installed. */
export function rabbitmqInstalled(): boolean {
  return spawnSync('rabbitmqctl', ['--help'], { stdio: 'ignore' }).error === undefined;
}

/** Whether a broker's management API answers here (enabling the plugin if the CLI is installed), and if not, why. */
export type BrokerState = { readonly up: true } | { readonly up: false; readonly reason: string };

/**
 * Find the broker the RabbitMQ tests need. Without one the tests skip with the reason printed, except under CI
 * (`CI` set, as .ci/run is run), where a missing broker is a broken setup: {@link requireBrokerInCi} fails then.
 */
export async function findBroker(): Promise<BrokerState> {
  if (await answering()) return { up: true };
  if (!rabbitmqInstalled()) {
    return { up: false, reason: `no RabbitMQ management API on ${MANAGEMENT_URL} and rabbitmqctl is not on PATH` };
  }
  try {
    await ensureManagementApi();
    return { up: true };
  } catch (error) {
    return { up: false, reason: `RabbitMQ is installed but ${(error as Error).message}` };
  }
}

async function answering(): Promise<boolean> {
  try {
    const response = await fetch(`${MANAGEMENT_URL}/api/overview`, {
      headers: { authorization: GUEST },
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Make sure the management API answers: enable the plugin if it does not, then wait up to 30 s. */
export async function ensureManagementApi(): Promise<void> {
  if (await answering()) return;
  await promisify(execFile)('rabbitmq-plugins', ['enable', 'rabbitmq_management'], { timeout: 60_000 });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await answering()) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('the RabbitMQ management API did not come up on 15672 within 30 s');
}

/** A management API call as guest (test setup and assertions only). */
export async function asGuest(method: string, path: string, body?: unknown): Promise<number> {
  return status(method, path, GUEST, body);
}

/** A management API call with the given basic credentials. */
export async function status(method: string, path: string, authorization: string, body?: unknown): Promise<number> {
  const response = await fetch(`${MANAGEMENT_URL}${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await response.body?.cancel();
  return response.status;
}

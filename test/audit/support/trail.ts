import { execFile } from 'node:child_process';
import { cliCommand, REPO_ROOT } from '../../support/cli.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `escrow <args>` as its own process (the built CLI, or the sources when they are newer). */
export function escrowCli(args: readonly string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [...cliCommand(), ...args],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** One request whose whole answer arrived: its id and status. */
export interface Answered {
  readonly requestId: string;
  readonly status: number;
}

/**
 * Escrow's request id of an answer: `x-request-id` on Escrow's own answers; for a proxied answer, the
 * `x-request-id` Escrow sent upstream, as the echo upstream (test/support/upstream.ts) reflects it in its body.
 */
export function requestIdOf(res: Response, body: string): string {
  const own = res.headers.get('x-request-id');
  if (own) return own;
  try {
    return (JSON.parse(body) as { headers?: Record<string, string> }).headers?.['x-request-id'] ?? '';
  } catch {
    return '';
  }
}

/**
 * Requests from `concurrency` loops until `stop()` resolves, keeping every answer that arrived whole (status and
 * the complete body): those are the requests the agent got answers to. Answers cut short are not kept.
 */
export async function loadUntil(
  call: () => Promise<Response>,
  concurrency: number,
  stop: Promise<unknown>,
  onAnswer: (answer: Answered, count: number) => void = () => {},
): Promise<{ answered: Answered[]; cut: number }> {
  const answered: Answered[] = [];
  let cut = 0;
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const loop = async () => {
    while (!stopped) {
      try {
        const res = await call();
        const body = await res.text();
        const answer = { requestId: requestIdOf(res, body), status: res.status };
        answered.push(answer);
        onAnswer(answer, answered.length);
      } catch {
        cut += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { answered, cut };
}

/** The `requestId`s of the `request` events in audit lines. */
export function requestIds(lines: readonly string[]): Set<string> {
  const ids = new Set<string>();
  for (const line of lines) {
    try {
      const event = JSON.parse(line) as { event?: string; requestId?: string };
      if (event.event === 'request' && event.requestId) ids.add(event.requestId);
    } catch {
      // a torn line: not an event
    }
  }
  return ids;
}

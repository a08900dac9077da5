import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRepo, octokitViaEscrow } from '../../examples/agents/github-repo.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import type { TestUpstream } from '../support/upstream.js';
import { exampleTarget, seenBytes } from './agent-targets.js';
import { startGitHub } from './upstreams.js';

const GITHUB_TOKEN = 'ghp_canary5e0c3b8a1f7d4296e0c3';

describe('the unmodified Octokit reaches the GitHub REST API through Escrow with only its workload token', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;

  beforeAll(async () => {
    upstream = await startGitHub(GITHUB_TOKEN);
    escrow = await startEscrow({
      env: { GITHUB_TOKEN },
      targets: [exampleTarget('github', upstream.url)],
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('gets the repository while the upstream sees `token <real>` and never the workload token', async () => {
    const task = await escrow.openTask(token, ['github'], 'read-only: inspect escrow/escrow');
    const octokit = await octokitViaEscrow({ url: escrow.url, token: async () => token }, task);
    expect(await describeRepo(octokit, 'escrow', 'escrow')).toEqual({
      fullName: 'escrow/escrow',
      defaultBranch: 'main',
      stars: 42,
    });
    const seen = upstream.requests.at(-1)!;
    expect(seen.url).toBe('/repos/escrow/escrow');
    expect(seen.headers.authorization).toBe(`token ${GITHUB_TOKEN}`);
    expect(seenBytes(seen)).not.toContain(token);
  });

  it('refuses a write in a read-only task before the upstream is called', async () => {
    const task = await escrow.openTask(token, ['github'], 'read-only: inspect escrow/escrow');
    const octokit = await octokitViaEscrow({ url: escrow.url, token: async () => token }, task);
    const before = upstream.requests.length;
    const write: Promise<unknown> = octokit.rest.issues.create({ owner: 'escrow', repo: 'escrow', title: 'x' });
    const error = (await write.catch((e: unknown) => e)) as {
      status: number;
      message: string;
      response: { data: string };
    };
    expect(error.status).toBe(403);
    // Octokit parses only application/json, and reads any other body with a charset as text: its message is the
    // problem document, Escrow's code and detail included (without the charset it said "Unknown error").
    expect(error.message).toContain('"code":"policy_denied"');
    expect(error.message).toContain('"detail":"the policy does not allow this request"');
    const problem = JSON.parse(error.response.data) as Record<string, unknown>;
    expect(problem).toMatchObject({ code: 'policy_denied', decisionId: expect.stringMatching(/^dec_/) });
    expect(upstream.requests.length).toBe(before);
  });

  it('keeps the token out of the audit trail', async () => {
    const text = JSON.stringify(await escrow.auditEvents());
    expect(text).not.toContain(GITHUB_TOKEN);
    expect(text).not.toContain(token);
  });
});

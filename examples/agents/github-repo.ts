import { Octokit } from '@octokit/rest';
import { agentFromEnv, closeTask, type EscrowAgent, isMain, openTask } from './escrow-client.js';

/**
 * The official `@octokit/rest`, unmodified, talking to the `github` target through Escrow. Octokit sends a
 * JWT-shaped `auth` as `Authorization: bearer …` (an opaque one as `token …`, which Escrow refuses: the
 * workload token must be a JWT here). The adapter injects the real token as `Authorization: token …`.
 *
 *   - name: github
 *     upstream: https://api.github.com
 *     credential: { adapter: header, header: authorization, template: "token {secret}", value: env:GITHUB_TOKEN }
 *
 * Octokit has no `defaultHeaders`; a `before` hook adds `x-escrow-task` to every request.
 */
export async function octokitViaEscrow(agent: EscrowAgent, taskId: string, target = 'github'): Promise<Octokit> {
  const octokit = new Octokit({ baseUrl: `${agent.url}/${target}`, auth: await agent.token() });
  octokit.hook.before('request', (options) => {
    options.headers['x-escrow-task'] = taskId;
  });
  return octokit;
}

/** `GET /repos/{owner}/{repo}`: the repository's full name and default branch. */
export async function describeRepo(octokit: Octokit, owner: string, repo: string) {
  const { data } = await octokit.rest.repos.get({ owner, repo });
  return { fullName: data.full_name, defaultBranch: data.default_branch, stars: data.stargazers_count };
}

// npx tsx examples/agents/github-repo.ts octocat hello-world   (ESCROW_URL, ESCROW_TOKEN; see docs/agents.md)
if (isMain(import.meta.url)) {
  const agent = agentFromEnv();
  const [owner = 'octocat', repo = 'hello-world'] = process.argv.slice(2);
  const task = await openTask(agent, { intent: `read-only: inspect ${owner}/${repo}`, targets: ['github'] });
  try {
    console.log(await describeRepo(await octokitViaEscrow(agent, task.id), owner, repo));
  } finally {
    await closeTask(agent, task.id);
  }
}

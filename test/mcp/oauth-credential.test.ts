import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startMcpServer, type TestMcpServer } from '../support/mcp-server.js';
import { type OAuthServer, startOAuthServer } from '../unit/adapters/oauth-server.js';
import { connectAgent, MCP_POLICIES } from './support.js';

const CLIENT_SECRET = 'oauth-client-secret-canary-51f0c2a9';

describe('an MCP server behind OAuth: a token minted per lease, injected, masked, gone with the task', () => {
  let oauth: OAuthServer;
  let server: TestMcpServer;
  let escrow: TestEscrow;
  const seenTokens: string[] = [];

  beforeAll(async () => {
    oauth = await startOAuthServer({ clientId: 'escrow-docs', clientSecret: CLIENT_SECRET, accessTokenTtl: 600 });
    server = await startMcpServer({
      apiKey: 'unused',
      json: true,
      accept: async (authorization) => {
        const token = authorization?.replace(/^Bearer /, '') ?? '';
        const ok = await oauth.verify(token).then(
          () => true,
          () => false,
        );
        if (ok) seenTokens.push(token);
        return ok;
      },
    });
    escrow = await startEscrow({
      env: { DOCS_CLIENT_SECRET: CLIENT_SECRET },
      policies: MCP_POLICIES,
      targets: [
        {
          name: 'docs',
          protocol: 'mcp',
          upstream: server.url,
          credential: {
            adapter: 'oauth2-client-credentials',
            tokenUrl: oauth.tokenUrl,
            clientId: 'escrow-docs',
            clientSecret: 'env:DOCS_CLIENT_SECRET',
            scope: 'reports:read',
            ttl: 300,
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await server?.close();
    await oauth?.close();
  });

  it('calls tools with a verified access token the agent never sees, and a new task gets a new token', async () => {
    const token = await escrow.token();
    const first = await escrow.openTask(token, ['docs'], 'research');
    const agent = await connectAgent(escrow, token, first);
    const echoed = JSON.stringify(await agent.client.callTool({ name: 'whoami', arguments: {} }));
    const used = seenTokens.at(-1)!;
    expect(used.split('.')).toHaveLength(3); // a JWT access token from the authorization server
    expect(echoed).not.toContain(used);
    expect(echoed).not.toContain(CLIENT_SECRET);
    await fetch(`${escrow.url}/_escrow/tasks/${first}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    const revoked = (await escrow.auditEvents()).filter((e) => e.event === 'lease.revoked');
    expect(revoked.map((e) => (e.task as { id: string }).id)).toContain(first);

    const second = await escrow.openTask(token, ['docs'], 'research again');
    const again = await connectAgent(escrow, token, second);
    await again.client.listTools();
    expect(seenTokens.at(-1)).not.toBe(used);
    expect(seenTokens.every((t) => !t.includes(CLIENT_SECRET))).toBe(true);
  });
});

import type { ServerResponse } from 'node:http';
import { type RecordedRequest, startUpstream, type TestUpstream } from '../support/upstream.js';

/**
 * Local stand-ins for three real APIs. Each one checks the credential exactly the way the real API does
 * (same header, same scheme) and answers in the real API's shape, so the official SDKs parse the answer.
 * A wrong or missing credential gets the real API's 401, so a test that passes proves the real key arrived.
 */

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const userText = (req: RecordedRequest): string => {
  const body = JSON.parse(req.body.toString() || '{}') as { messages?: { content?: unknown }[] };
  const content = body.messages?.at(-1)?.content;
  return typeof content === 'string' ? content : JSON.stringify(content ?? '');
};

/** OpenAI: `Authorization: Bearer <key>` on `POST /v1/chat/completions`. */
export function startOpenAi(apiKey: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return json(res, 401, {
        error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' },
      });
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions')
      return json(res, 404, { error: { message: 'no' } });
    json(res, 200, {
      id: 'chatcmpl-escrow-1',
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: `echo: ${userText(req)}`, refusal: null },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
    });
  });
}

/** Anthropic: `x-api-key: <key>` and an `anthropic-version` header on `POST /v1/messages`. */
export function startAnthropic(apiKey: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    if (req.headers['x-api-key'] !== apiKey) {
      return json(res, 401, {
        type: 'error',
        error: { type: 'authentication_error', message: 'invalid x-api-key' },
      });
    }
    if (typeof req.headers['anthropic-version'] !== 'string') {
      return json(res, 400, {
        type: 'error',
        error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' },
      });
    }
    if (req.method !== 'POST' || req.url !== '/v1/messages') return json(res, 404, { type: 'error', error: {} });
    json(res, 200, {
      id: 'msg_escrow_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-6',
      content: [{ type: 'text', text: `echo: ${userText(req)}` }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 3 },
    });
  });
}

/** GitHub: `Authorization: token <token>` or `Bearer <token>` on `GET /repos/{owner}/{repo}`. */
export function startGitHub(token: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const auth = req.headers.authorization ?? '';
    if (auth !== `token ${token}` && auth !== `Bearer ${token}`) {
      return json(res, 401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
    }
    const match = /^\/repos\/([^/]+)\/([^/?]+)$/.exec(req.url);
    if (req.method !== 'GET' || !match) return json(res, 404, { message: 'Not Found', status: '404' });
    const [, owner, repo] = match;
    json(
      res,
      200,
      {
        id: 1296269,
        name: repo,
        full_name: `${owner}/${repo}`,
        private: false,
        owner: { login: owner, id: 1, type: 'Organization' },
        default_branch: 'main',
        stargazers_count: 42,
      },
      { 'x-ratelimit-remaining': '4999' },
    );
  });
}

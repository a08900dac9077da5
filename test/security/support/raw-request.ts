/** Exact request bytes for the corpus suites: a head (CRLF line ends) plus an optional raw body. */
export interface RawCase {
  readonly name: string;
  readonly method?: string;
  readonly target?: string;
  readonly version?: string;
  /** Extra header lines, exactly as written. */
  readonly headers?: readonly string[];
  readonly body?: string;
  /** Replace the whole request with these bytes (`{auth}` and `{task}` are filled in). */
  readonly bytes?: string;
}

export interface Credentials {
  readonly token: string;
  readonly task: string;
}

/** The request line, Host, the agent's identity and task, `Connection: close`, the case's headers, its body. */
export function buildRequest(c: RawCase, creds: Credentials, path = '/echo/x'): string {
  if (c.bytes !== undefined) {
    return c.bytes.replaceAll('{auth}', `Bearer ${creds.token}`).replaceAll('{task}', creds.task);
  }
  const lines = [
    `${c.method ?? 'GET'} ${c.target ?? path} ${c.version ?? 'HTTP/1.1'}`,
    'Host: 127.0.0.1',
    `Authorization: Bearer ${creds.token}`,
    `X-Escrow-Task: ${creds.task}`,
    'Connection: close',
    ...(c.headers ?? []),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${c.body ?? ''}`;
}

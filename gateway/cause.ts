/**
 * Why `error` happened, from its `cause` chain: the first line of each cause's message, at most three deep and
 * each cut at 300 characters, joined with ": " — so "fetch failed" is followed by "connect ECONNREFUSED
 * 127.0.0.1:8443". For start-up and operator messages, whose causes are files, sockets and parsers; a message
 * already containing a cause's text does not repeat it.
 */
export function causeChain(error: unknown): string {
  const parts: string[] = [];
  let seen = error instanceof Error ? error.message : '';
  let cause = (error as { cause?: unknown } | undefined)?.cause;
  for (let depth = 0; depth < 3 && cause instanceof Error; depth += 1) {
    const line = (cause.message.split('\n')[0] ?? '').trim().slice(0, 300);
    if (line !== '' && !seen.includes(line)) parts.push(line);
    seen += line;
    cause = cause.cause;
  }
  return parts.join(': ');
}

/** The error's own message followed by its cause chain, on one line. */
export function explainError(error: unknown): string {
  const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  const cause = causeChain(error);
  return cause === '' ? message : `${message}: ${cause}`;
}

/** Why a JSON text is refused before it is parsed. */
export type ScanProblem = 'too_deep' | 'duplicate_member';

function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
  return i;
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function nextNonSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && isSpace(text.charCodeAt(i))) i += 1;
  return text.charCodeAt(i);
}

function memberName(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end);
  // Escaped names are compared unescaped: `"name"` and `"n\u0061me"` are the same member to every JSON reader.
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(text.slice(start, end + 1)) as string;
  } catch {
    return raw; // a bad escape: JSON.parse refuses the whole text afterwards
  }
}

/**
 * One pass over a JSON text, before JSON.parse: is any array or object nested deeper than `maxDepth`, or does any
 * object name a member twice? JSON.parse keeps the last of two members and another reader may keep the first, so
 * `{"name":"search","name":"delete_all"}` could be authorized as one tool and run as another: it is refused. Only
 * meaningful for a text JSON.parse accepts (anything else fails there).
 */
export function scanJson(text: string, maxDepth: number): ScanProblem | undefined {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 0x7b || code === 0x5b) {
      stack.push(code === 0x7b ? new Set() : null);
      if (stack.length > maxDepth) return 'too_deep';
    } else if (code === 0x7d || code === 0x5d) {
      stack.pop();
    } else if (code === 0x22) {
      const end = endOfString(text, i);
      const names = stack.at(-1);
      if (names && nextNonSpace(text, end + 1) === 0x3a) {
        const name = memberName(text, i, end);
        if (names.has(name)) return 'duplicate_member';
        names.add(name);
      }
      i = end;
    }
  }
  return undefined;
}

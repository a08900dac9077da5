/**
 * The attack of issue #14, as a prompt-injected agent would run it: against an upstream that reflects what it is
 * sent, try every next byte of a secret and watch the framing of the answers (HTTP chunk sizes, the bytes that
 * arrive before the rest, WebSocket frame sizes and FIN bits). A scrubber that holds back "the longest tail that
 * could start a secret" answers a right guess with a different framing: the odd one out is the next byte.
 */

/** Sends one batch of guesses and returns, for each, what the agent could observe of its answer's framing. */
export type Probe = (guesses: readonly string[]) => Promise<string[]>;

export interface AttackResult {
  /** The prefix the attacker settled on. */
  readonly guessed: string;
  /** How many of its bytes are right (the length of the common prefix with the key). */
  readonly recovered: number;
  readonly guesses: number;
  /** Batches in which one guess's framing differed from all the others' (the oracle answering). */
  readonly outliers: number;
  /** Batches in which the framings were not all the same (any difference at all is a leak). */
  readonly differing: number;
}

export const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * Key bytes a guessed prefix gives away: the attacker may have followed the key's raw form or an encoding of it
 * (a scrubber also holds back prefixes of hex and base64 forms), so every such form counts.
 */
export function recoveredBytes(guessed: string, key: string): number {
  const raw = Buffer.from(key);
  const forms: [string, number][] = [
    [key, 1],
    [raw.toString('hex'), 0.5],
    [raw.toString('hex').toUpperCase(), 0.5],
    // base64 at each alignment (what a scrubber matches inside a longer base64 text), both alphabets
    ...[0, 1, 2].flatMap((skip): [string, number][] => [
      [raw.subarray(skip).toString('base64'), 0.75],
      [raw.subarray(skip).toString('base64url'), 0.75],
    ]),
  ];
  return Math.max(...forms.map(([form, perChar]) => Math.floor(commonPrefix(guessed, form) * perChar)));
}

/**
 * The guesses whose framing differs from the most common one, most promising first: by `rank` when the attacker
 * knows how to read a framing (the old scrubber: more bytes held back = a longer match), else rarest first.
 */
function outliersOf(seen: readonly string[], rank?: (framing: string) => number): number[] {
  const counts = new Map<string, number>();
  for (const s of seen) counts.set(s, (counts.get(s) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  const score = (s: string) => (rank ? -rank(s) : counts.get(s)!);
  return seen
    .map((s, i) => ({ i, score: score(s) }))
    .filter(({ i }) => seen[i] !== common)
    .sort((a, b) => a.score - b.score)
    .map(({ i }) => i);
}

/**
 * Byte by byte: for the next position, guess every character of `alphabet` after the prefix found so far. The
 * guesses framed unlike the rest are candidates; with several, the first whose own next position shows an
 * outlier again is taken (a right prefix keeps answering). Without any, the position is tried again. Stops when
 * the key is whole or `budget` guesses are spent.
 */
export async function runOracleAttack(
  probe: Probe,
  key: string,
  budget: number,
  rank?: (framing: string) => number,
  alphabet = BASE64URL,
): Promise<AttackResult> {
  let guessed = '';
  let guesses = 0;
  let outliers = 0;
  let differing = 0;
  const batch = async (prefix: string) => {
    const seen = await probe([...alphabet].map((c) => `#${prefix}${c}`));
    guesses += alphabet.length;
    if (new Set(seen).size > 1) differing++;
    return outliersOf(seen, rank).map((i) => alphabet[i]!);
  };
  while (guesses + alphabet.length <= budget && guessed.length < key.length) {
    const candidates = await batch(guessed);
    if (candidates.length === 0) continue;
    outliers++;
    let next = candidates[0]!;
    for (const c of candidates.length > 1 ? candidates : []) {
      if (guesses + alphabet.length > budget) break;
      if ((await batch(guessed + c)).length > 0) {
        next = c;
        break;
      }
    }
    guessed += next;
  }
  return { guessed, recovered: recoveredBytes(guessed, key), guesses, outliers, differing };
}

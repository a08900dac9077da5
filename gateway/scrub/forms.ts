/**
 * The byte forms a secret value takes when an upstream reflects it. Only whole-value encodings are enumerated
 * here; escapes that can apply to any subset of characters (percent-encoding in any case, doubled, JSON `\/` and
 * `\uXXXX`, HTML entities, line-wrapped base64) are undone by the decoded view (gateway/scrub/views.ts) instead.
 */

/** Shorter secret values are not scrubbed (masking 3-byte runs would corrupt ordinary responses); config warns. */
export const MIN_SCRUB_LENGTH = 4;

/** A base64 core shorter than this many characters is not a needle: too likely to occur by chance. */
const MIN_CORE_LENGTH = 8;

/** One needle: the bytes to find, and how many base64 characters around a match also hide secret bits. */
export interface Form {
  readonly bytes: Buffer;
  /** Characters before a match that are masked too, while they are base64 characters. */
  readonly extendBefore: number;
  /** Characters after a match that are masked too, while they are base64 characters. */
  readonly extendAfter: number;
}

const plain = (bytes: Buffer): Form => ({ bytes, extendBefore: 0, extendAfter: 0 });

function toUrlAlphabet(b64: string): string {
  return b64.replaceAll('+', '-').replaceAll('/', '_');
}

/**
 * The base64 that a secret produces inside a longer base64 text, for each of the three byte alignments: the
 * groups made of secret bytes alone. The group before (when the alignment cuts into the secret's first bytes) and
 * the group after (when it cuts into the last ones) mix secret bits with their neighbours' and are masked too, so
 * an agent that knows the neighbouring bytes (its own request) cannot decode the secret's edges.
 */
function base64Cores(raw: Buffer): Form[] {
  const forms: Form[] = [];
  for (let skip = 0; skip < 3; skip++) {
    const whole = Math.floor((raw.length - skip) / 3) * 3;
    if (whole <= 0) continue;
    const core = raw.subarray(skip, skip + whole).toString('base64');
    if (core.length < MIN_CORE_LENGTH) continue;
    const extendBefore = skip > 0 ? 4 : 0;
    const extendAfter = raw.length - skip - whole > 0 ? 4 : 0;
    for (const text of [core, toUrlAlphabet(core)]) {
      forms.push({ bytes: Buffer.from(text), extendBefore, extendAfter });
    }
  }
  return forms;
}

function utf16be(value: string): Buffer {
  const le = Buffer.from(value, 'utf16le');
  return Buffer.from(le).swap16();
}

/**
 * Every needle for one secret value: raw; `+` for spaces (form encoding); hex in lower and upper case; base64
 * and base64url without padding (the `=` padding carries no secret bits); the base64 cores at each alignment;
 * UTF-16LE and UTF-16BE. Forms shorter than MIN_SCRUB_LENGTH are dropped; duplicates are dropped.
 */
export function formsOf(value: string): Form[] {
  const raw = Buffer.from(value);
  if (raw.length < MIN_SCRUB_LENGTH) return [];
  const b64 = raw.toString('base64').replace(/=+$/, '');
  const hex = raw.toString('hex');
  const candidates: Form[] = [
    plain(raw),
    plain(Buffer.from(value.replaceAll(' ', '+'))),
    plain(Buffer.from(hex)),
    plain(Buffer.from(hex.toUpperCase())),
    plain(Buffer.from(b64)),
    plain(Buffer.from(toUrlAlphabet(b64))),
    ...base64Cores(raw),
    plain(Buffer.from(value, 'utf16le')),
    plain(utf16be(value)),
  ];
  const seen = new Set<string>();
  return candidates.filter((form) => {
    const key = `${form.extendBefore}:${form.extendAfter}:${form.bytes.toString('latin1')}`;
    if (form.bytes.length < MIN_SCRUB_LENGTH || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The values worth scrubbing among an adapter's wire forms: a form that contains another one (`Bearer <token>`,
 * `user:<password>`) adds nothing once the inner one is masked, so only the innermost are kept.
 */
export function innermostValues(values: readonly string[]): string[] {
  const usable = [...new Set(values)].filter((v) => Buffer.byteLength(v) >= MIN_SCRUB_LENGTH);
  return usable.filter((v) => !usable.some((other) => other !== v && v.includes(other)));
}

/**
 * HTML named character references (WHATWG list) for every ASCII character that has one, plus `&nbsp;`: what
 * `htmlspecialchars`, Python's `html.escape` and full-entity encoders such as `he` emit for the characters of
 * tokens and keys. Names longer than 8 letters are left out so a reference is at most 10 bytes
 * (gateway/scrub/index.ts MAX_TOKEN_BYTES).
 */
const NAMED: Readonly<Record<string, string>> = {
  Tab: '\t',
  excl: '!',
  quot: '"',
  QUOT: '"',
  num: '#',
  dollar: '$',
  percnt: '%',
  amp: '&',
  AMP: '&',
  apos: "'",
  lpar: '(',
  rpar: ')',
  ast: '*',
  midast: '*',
  plus: '+',
  comma: ',',
  period: '.',
  sol: '/',
  colon: ':',
  semi: ';',
  lt: '<',
  LT: '<',
  equals: '=',
  gt: '>',
  GT: '>',
  quest: '?',
  commat: '@',
  lsqb: '[',
  lbrack: '[',
  bsol: '\\',
  rsqb: ']',
  rbrack: ']',
  Hat: '^',
  lowbar: '_',
  UnderBar: '_',
  grave: '`',
  lcub: '{',
  lbrace: '{',
  verbar: '|',
  vert: '|',
  rcub: '}',
  rbrace: '}',
  nbsp: '\u00a0',
};

/** The longest name in the table, in letters. */
export const MAX_ENTITY_NAME = 8;

/** The UTF-8 bytes a named reference stands for, or undefined when the name is not in the table. */
export function namedEntity(name: string): Buffer | undefined {
  const text = Object.hasOwn(NAMED, name) ? NAMED[name] : undefined;
  return text === undefined ? undefined : Buffer.from(text);
}

/**
 * A strict parser for the Prometheus text exposition format (0.0.4): every line must be a HELP, a TYPE or
 * a sample; a family's TYPE comes before its samples and its samples are contiguous; label values use only
 * the three escapes `\\`, `\"`, `\n`; histograms have cumulative buckets ending in `+Inf` equal to `_count`.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** As Prometheus reads a value (Go's `strconv.ParseFloat`): `NaN`/`Inf` in any case — prom-client writes `Nan`. */
function parseValue(text: string, line: string): number {
  const special = text.toLowerCase();
  if (special === 'nan') return Number.NaN;
  if (/^\+?inf(inity)?$/.test(special)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/.test(special)) return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const match = LABEL.exec(rest);
    if (!match) throw new Error(`bad labels in: ${line}`);
    const [whole, name, raw] = match as unknown as [string, string, string];
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    labels[name] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

function familyOf(families: Map<string, ParsedFamily>, series: string): ParsedFamily | undefined {
  const exact = families.get(series);
  if (exact && !SUFFIXES[exact.type]) return exact;
  for (const family of families.values()) {
    if ((SUFFIXES[family.type] ?? []).some((suffix) => series === family.name + suffix)) return family;
  }
  return undefined;
}

function checkHistogram(family: ParsedFamily): void {
  const groups = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const { le: _le, ...rest } = sample.labels;
    const key = JSON.stringify(rest);
    groups.set(key, [...(groups.get(key) ?? []), sample]);
  }
  for (const samples of groups.values()) {
    const buckets = samples.filter((sample) => sample.name.endsWith('_bucket'));
    const count = samples.find((sample) => sample.name.endsWith('_count'));
    buckets.reduce((previous, bucket) => {
      if (bucket.value < previous) throw new Error(`${family.name}: buckets are not cumulative`);
      return bucket.value;
    }, 0);
    const last = buckets.at(-1);
    if (last?.labels.le !== '+Inf' || last.value !== count?.value)
      throw new Error(`${family.name}: +Inf bucket ≠ _count`);
  }
}

/** Parses exposition text or throws naming the first offending line. */
export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  const closed = new Set<string>();
  let current: ParsedFamily | undefined;
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = HELP.exec(line);
    const type = TYPE.exec(line);
    if (help) {
      helps.set(help[1] as string, help[2] as string);
    } else if (type) {
      const name = type[1] as string;
      if (families.has(name)) throw new Error(`TYPE repeated for ${name}`);
      if (current) closed.add(current.name);
      current = { name, type: type[2] as string, help: helps.get(name) ?? '', samples: [] };
      families.set(name, current);
    } else {
      const sample = SAMPLE.exec(line);
      if (!sample) throw new Error(`not a HELP, TYPE or sample line: ${line}`);
      const [, name, labels, value] = sample as unknown as [string, string, string | undefined, string];
      const family = familyOf(families, name);
      if (!family) throw new Error(`sample before its TYPE: ${line}`);
      if (family !== current || closed.has(family.name))
        throw new Error(`samples of ${family.name} are not contiguous`);
      family.samples.push({ name, labels: parseLabels(labels ?? '', line), value: parseValue(value, line) });
    }
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

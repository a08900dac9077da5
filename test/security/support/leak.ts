/**
 * The forms a canary can take where an agent, a log or a metric might show it: raw, base64 (standard, url,
 * unpadded, and the core of it inside a longer base64 text), percent-encoded (both cases) and form-encoded.
 */
export function canaryForms(canary: string, extra: readonly string[] = []): Map<string, string> {
  const forms = new Map<string, string>();
  for (const value of [canary, ...extra]) {
    const raw = Buffer.from(value);
    forms.set(`raw ${value}`, value);
    forms.set(`base64 ${value}`, raw.toString('base64').replace(/=+$/, ''));
    forms.set(`base64url ${value}`, raw.toString('base64url'));
    for (let skip = 0; skip < 3; skip++) {
      const bytes = raw.subarray(skip);
      const core = bytes.subarray(0, bytes.length - (bytes.length % 3)).toString('base64');
      if (core.length >= 8) forms.set(`base64 core +${skip} ${value}`, core);
    }
    forms.set(`url ${value}`, encodeURIComponent(value));
    forms.set(
      `url lower ${value}`,
      encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
    );
    forms.set(`form ${value}`, new URLSearchParams({ v: value }).toString().slice(2));
  }
  return forms;
}

/** The name of the first form found in `text`, or undefined. */
export function findLeak(text: string, forms: ReadonlyMap<string, string>): string | undefined {
  for (const [name, form] of forms) if (text.includes(form)) return name;
  return undefined;
}

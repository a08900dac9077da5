/**
 * An Escrow adapter for the (fictional) Acme API, written the way a platform team writes one: a plain ES
 * module whose default export is a factory `(options, context) => Adapter`. See docs/adapters.md.
 *
 * Acme hands out short-lived session keys: `POST {apiUrl}/v1/session-keys` with the root key returns
 * `{ id, key, expiresIn }`; `DELETE {apiUrl}/v1/session-keys/{id}` revokes one. Each lease gets its own
 * session key, sent as `Authorization: Acme-Key <key>` with the tenant in `x-acme-tenant`; the root key
 * never leaves Escrow.
 *
 *   credential:
 *     adapter: ./adapters/acme.js     # resolved against the config file's directory
 *     ttl: 600
 *     apiUrl: https://api.acme.example
 *     tenant: reports
 *     rootKey: env:ACME_ROOT_KEY
 */

const KNOWN = new Set(['adapter', 'ttl', 'apiUrl', 'tenant', 'rootKey', 'timeoutMs']);

/** Check the options now, at start. An error message starting `key: ` is reported at that config path. */
function validate(options) {
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) throw new Error(`${key}: unknown key`);
  const { ttl, apiUrl, tenant, rootKey, timeoutMs = 5000 } = options;
  if (ttl === undefined) throw new Error('ttl: required');
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('ttl: must be a positive integer');
  if (apiUrl === undefined) throw new Error('apiUrl: required');
  if (typeof apiUrl !== 'string' || !/^https?:\/\//.test(apiUrl)) throw new Error('apiUrl: must be an http(s) URL');
  if (tenant === undefined) throw new Error('tenant: required');
  if (typeof tenant !== 'string' || !/^[a-z0-9-]{1,40}$/.test(tenant)) throw new Error('tenant: must be a tenant slug');
  if (rootKey === undefined) throw new Error('rootKey: required');
  // Never echo the value: a secret pasted here by mistake must not end up in a log.
  if (typeof rootKey !== 'string' || !/^(env|file):/.test(rootKey)) {
    throw new Error('rootKey: must be a secret reference: env:NAME or file:PATH');
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error('timeoutMs: must be a positive integer');
  return { ttl, apiUrl: apiUrl.replace(/\/+$/, ''), tenant, rootKey, timeoutMs };
}

/** One call to Acme with the root key; no redirects (they would carry the key), a timeout, no secret in errors. */
async function callAcme(url, method, rootKey, timeoutMs, body) {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Acme-Root ${rootKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

export default function createAcmeAdapter(options, context) {
  const o = validate(options);
  context.resolveSecret(o.rootKey); // fail at start if the reference does not resolve

  return {
    kind: 'acme',
    async issue(scope) {
      const ttl = Math.min(o.ttl, scope.ttlSeconds);
      const { status, json } = await callAcme(
        `${o.apiUrl}/v1/session-keys`,
        'POST',
        context.resolveSecret(o.rootKey),
        o.timeoutMs,
        {
          tenant: o.tenant,
          ttlSeconds: ttl,
          label: `escrow ${scope.leaseId} task ${scope.taskId}`,
        },
      );
      if (status !== 201 || typeof json?.key !== 'string' || typeof json?.id !== 'string') {
        throw new Error(`Acme refused a session key: status ${status}`); // status only: the body may echo input
      }
      return {
        fields: { key: json.key },
        ttlSeconds: Math.max(1, Math.min(ttl, Number(json.expiresIn) || ttl)),
        // The first wire form is the raw secret (Escrow fingerprints it for the audit trail).
        wireForms: [json.key, `Acme-Key ${json.key}`],
        revocationHandle: json.id,
      };
    },
    inject(request, credential) {
      request.headers.authorization = `Acme-Key ${credential.fields.key}`;
      request.headers['x-acme-tenant'] = o.tenant; // not secret: from the options, not the credential
    },
    async revoke(credential) {
      const url = `${o.apiUrl}/v1/session-keys/${encodeURIComponent(credential.revocationHandle)}`;
      const { status } = await callAcme(url, 'DELETE', context.resolveSecret(o.rootKey), o.timeoutMs);
      if (status !== 204 && status !== 404) throw new Error(`Acme refused to revoke a session key: status ${status}`);
    },
  };
}

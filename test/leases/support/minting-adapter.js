/**
 * A dynamic-credential adapter for tests, written as a platform team's module: every lease gets its own key,
 * minted by a real HTTP service (test/leases/support/mint.ts) and deleted there on revoke. Works the same
 * from an in-process Escrow and from a separate `escrow start` process.
 *
 *   credential: { adapter: /abs/path/minting-adapter.js, ttl: 3, mintUrl: http://127.0.0.1:PORT }
 */
export default function createMintingAdapter(options) {
  if (typeof options.mintUrl !== 'string') throw new Error('mintUrl: required');
  const mintUrl = options.mintUrl.replace(/\/+$/, '');
  return {
    kind: 'minting',
    async issue(scope) {
      const response = await fetch(`${mintUrl}/issue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ leaseId: scope.leaseId, taskId: scope.taskId, ttlSeconds: scope.ttlSeconds }),
      });
      if (response.status !== 201) throw new Error(`mint answered ${response.status}`);
      const { key } = await response.json();
      return {
        fields: { key },
        ttlSeconds: Math.min(options.ttl, scope.ttlSeconds),
        wireForms: [key],
        revocationHandle: scope.leaseId,
      };
    },
    inject(request, credential) {
      request.headers['x-api-key'] = credential.fields.key;
    },
    async revoke(credential) {
      const response = await fetch(`${mintUrl}/keys/${credential.revocationHandle}`, { method: 'DELETE' });
      if (response.status !== 204 && response.status !== 404) throw new Error(`mint answered ${response.status}`);
    },
  };
}

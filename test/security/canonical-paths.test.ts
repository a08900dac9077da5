import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawGet } from '../support/raw.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, PERMISSIVE_POLICY, startLoggedEscrow } from './support/escrow.js';

/** The policy: nothing under /admin, whatever the encoding. */
const POLICY = `${PERMISSIVE_POLICY}
@id("no-admin")
forbid (principal, action, resource is Escrow::Target)
when { context.request.path like "/admin*" };
`;

const CONTROL = [...Array.from({ length: 0x20 }, (_, i) => i), 0x7f].map(
  (byte) => `%${byte.toString(16).padStart(2, '0')}`,
);

/**
 * Issue #15, failure 7: `forbid … path like "/admin*"` was bypassed by `/echo/%61dmin`, which Go, WSGI and Spring
 * route to `/admin`, and an encoded control character was forwarded. Policy now sees exactly the path the upstream
 * gets, in one canonical form (gateway/http/canonical.ts; docs/policies.md "Paths").
 */
describe('policy sees the canonical path the upstream gets: no encoding slips past a path rule', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startLoggedEscrow({
      env: { KEY: 'canary-canonical-7c2a90d1' },
      policy: POLICY,
      targets: [headerTarget('echo', upstream.url), headerTarget('slashy', upstream.url, { allowEncodedSlash: true })],
    });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['echo', 'slashy']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const get = async (path: string) => {
    const before = upstream.requests.length;
    const res = await rawGet(escrow.port, path, headers);
    return { status: res.status, body: res.body, seen: upstream.requests.slice(before).map((r) => r.url) };
  };

  it.each(['/echo/admin', '/echo/%61dmin', '/echo/adm%69n', '/echo/%61%64%6D%69%6E/users', '/echo/%61dmin%2Dpanel'])(
    '%s is denied by the /admin* rule (403), upstream never called',
    async (path) => {
      expect(await get(path)).toMatchObject({ status: 403, seen: [] });
    },
  );

  it.each([...CONTROL, '%2F', '%2f', '%5C', '%5c', '%2500', '%2509', '%252F'])(
    '/echo/a%sb is refused with 400 (encoded control character or separator)',
    async (encoded) => {
      const res = await get(`/echo/a${encoded}b`);
      expect(res).toMatchObject({ status: 400, seen: [] });
      expect(JSON.parse(res.body)).toMatchObject({ code: 'bad_path' });
    },
  );

  it.each([
    ['/echo/%7e%7Ea%2dz%5F.%2E', '/~~a-z_..'],
    ['/echo/caf%c3%a9', '/caf%C3%A9'],
    ['/echo/a%20b%3bc', '/a%20b%3Bc'],
    ['/echo/x?q=%61', '/x?q=%61'],
  ])('%s reaches the upstream in canonical form as %s', async (path, canonical) => {
    expect(await get(path)).toMatchObject({ status: 200, seen: [canonical] });
    const audit = (await escrow.audit()).trim().split('\n').at(-1)!;
    expect(JSON.parse(audit)).toMatchObject({ event: 'request', path: canonical.split('?')[0] });
  });

  it('forwards %2F only for a target that allows it, and still refuses dot segments between encoded slashes', async () => {
    expect(await get('/slashy/a%2fb')).toMatchObject({ status: 200, seen: ['/a%2Fb'] });
    expect(await get('/slashy/a%2F..%2Fadmin')).toMatchObject({ status: 400, seen: [] });
    expect(await get('/slashy/%2e%2e%2Fadmin')).toMatchObject({ status: 400, seen: [] });
    expect(await get('/slashy/a%5Cb')).toMatchObject({ status: 400, seen: [] });
    expect(await get('/echo/a%2Fb')).toMatchObject({ status: 400, seen: [] });
  });
});

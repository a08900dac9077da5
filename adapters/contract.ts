/**
 * The shared adapter contract suite (vitest). Every adapter — built-in or a platform team's module — calls
 * `runAdapterContract` from its test file and passes it, plus its own tests beside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EscrowError } from '../gateway/errors.js';
import { covered, renderings, reveals, sentValues } from './contract-checks.js';
import type { Adapter, Credential, LeaseScope, UpstreamRequest } from './types.js';

/** What `setup` hands the suite: a ready adapter, and how to release what it started. */
export interface ContractSubject {
  readonly adapter: Adapter;
  readonly teardown?: () => Promise<void>;
}

/** How the suite checks option validation: valid options, and a way to build an adapter from variants. */
export interface ContractOptionsCheck {
  /** Valid options (with `adapter` and `ttl`) whose secret references resolve to `canary`. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Build an adapter from options as Escrow does, at config path `path` (e.g. through `createAdapter`). */
  readonly build: (options: Record<string, unknown>) => Promise<Adapter>;
  /** The config path the errors must name, e.g. `targets[0].credential`. */
  readonly path: string;
  /** The value the secret references resolve to: it must never appear in an error. */
  readonly canary: string;
}

/** A lease scope for contract and adapter tests. */
export function contractScope(ttlSeconds = 300): LeaseScope {
  const id = Math.random().toString(36).slice(2, 10);
  return {
    leaseId: `lse_contract_${id}`,
    taskId: `tsk_contract_${id}`,
    target: 'contract',
    principalId: 'spiffe://example.org/agent/contract',
    intent: 'run the adapter contract',
    ttlSeconds,
  };
}

function sampleRequest(adapter: Adapter): UpstreamRequest {
  // A fixed `date` makes clock-dependent signatures comparable between two injections.
  const headers = { date: 'Tue, 07 Jan 2025 10:00:00 GMT', accept: 'application/json' };
  if (!adapter.needsBody) return { method: 'GET', path: '/v1/things?page=2', headers };
  return { method: 'POST', path: '/v1/things?page=2', headers, body: Buffer.from('{"name":"contract"}') };
}

async function buildError(check: ContractOptionsCheck, options: Record<string, unknown>): Promise<unknown> {
  try {
    await check.build(options);
    return undefined;
  } catch (error) {
    return error;
  }
}

function expectConfigInvalid(error: unknown, check: ContractOptionsCheck, key: string): void {
  expect(error).toBeInstanceOf(EscrowError);
  expect((error as EscrowError).code).toBe('config_invalid');
  expect((error as EscrowError).message).toContain(`${check.path}.${key}`);
  expect(renderings(error)).not.toContain(check.canary);
}

function expectWellFormed(credential: Credential, scope: LeaseScope): void {
  expect(Object.keys(credential.fields).length).toBeGreaterThan(0);
  for (const value of Object.values(credential.fields)) expect(typeof value).toBe('string');
  expect(Number.isInteger(credential.ttlSeconds)).toBe(true);
  expect(credential.ttlSeconds).toBeGreaterThan(0);
  expect(credential.ttlSeconds).toBeLessThanOrEqual(scope.ttlSeconds);
  expect(credential.wireForms.length).toBeGreaterThan(0);
  for (const form of credential.wireForms) expect(form.length).toBeGreaterThan(0);
  // The first wire form is fingerprinted for the audit trail: it must be a raw secret value.
  expect(Object.values(credential.fields)).toContain(credential.wireForms[0]);
  // A credential is stored as JSON: it must survive the round trip unchanged.
  expect(JSON.parse(JSON.stringify(credential))).toEqual(credential);
}

function injected(adapter: Adapter, credential: Credential, times = 1): UpstreamRequest {
  const request = sampleRequest(adapter);
  for (let i = 0; i < times; i += 1) adapter.inject(request, credential);
  return request;
}

function runIssueAndInject(name: string, setup: () => Promise<ContractSubject>): void {
  describe(`${name} adapter issues and injects credentials as the contract says`, () => {
    let subject: ContractSubject;
    beforeAll(async () => {
      subject = await setup();
    });
    afterAll(async () => {
      await subject?.teardown?.();
    });

    it('issues string fields, a ttl within the scope, and non-empty wire forms', async () => {
      for (const ttl of [300, 7]) {
        const scope = contractScope(ttl);
        const credential = await subject.adapter.issue(scope);
        expectWellFormed(credential, scope);
        await subject.adapter.revoke?.(credential);
      }
    });

    it('injects something into the request, deterministically and idempotently', async () => {
      const { adapter } = subject;
      const credential = await adapter.issue(contractScope());
      const before = sampleRequest(adapter);
      const once = injected(adapter, credential);
      expect(once).not.toEqual(before);
      expect(injected(adapter, credential)).toEqual(once);
      expect(injected(adapter, credential, 2)).toEqual(once);
      await adapter.revoke?.(credential);
    });

    it('declares a wire form for every form of the secret it sends upstream', async () => {
      const { adapter } = subject;
      const credential = await adapter.issue(contractScope());
      const secret = credential.wireForms[0] ?? '';
      for (const value of sentValues(sampleRequest(adapter), injected(adapter, credential))) {
        if (reveals(value, secret))
          expect(covered(value, credential.wireForms), `undeclared form: ${value.length} chars`).toBe(true);
      }
      await adapter.revoke?.(credential);
    });

    it('returns from inject only values it put on the wire (they are scrubbed like secrets)', async () => {
      const { adapter } = subject;
      const credential = await adapter.issue(contractScope());
      const request = sampleRequest(adapter);
      const derived = adapter.inject(request, credential);
      const sent = sentValues(sampleRequest(adapter), request).join('\n');
      for (const value of Array.isArray(derived) ? derived : []) {
        expect(typeof value).toBe('string');
        expect(sent.includes(value), 'a derived value that was never sent').toBe(true);
      }
      await adapter.revoke?.(credential);
    });

    it('revokes idempotently, when it can revoke at all', async () => {
      const { adapter } = subject;
      if (!adapter.revoke) return;
      const credential = await adapter.issue(contractScope());
      await adapter.revoke(credential);
      await expect(adapter.revoke(credential)).resolves.toBeUndefined();
    });
  });
}

function wrongTypeOf(value: unknown): unknown {
  return typeof value === 'number' ? 'not-a-number' : 42;
}

function runOptionChecks(name: string, check: ContractOptionsCheck): void {
  const keys = Object.keys(check.options).filter((key) => key !== 'adapter');
  describe(`${name} adapter refuses bad options at start, naming the path and never the secret`, () => {
    it('builds from the valid options', async () => {
      expect(await buildError(check, { ...check.options })).toBeUndefined();
    });

    it('refuses an unknown option', async () => {
      const error = await buildError(check, { ...check.options, notAnOption: true });
      expectConfigInvalid(error, check, 'notAnOption');
      expect((error as Error).message).toContain(`${check.path}.notAnOption: unknown key`);
    });

    it.each(keys)('refuses %s when it is missing, unless it is optional', async (key) => {
      const { [key]: _dropped, ...rest } = check.options;
      const error = await buildError(check, rest);
      if (error === undefined) return;
      expectConfigInvalid(error, check, key);
      expect((error as Error).message).toContain(`${check.path}.${key}: required`);
    });

    it.each(keys)('refuses %s of the wrong type', async (key) => {
      const error = await buildError(check, { ...check.options, [key]: wrongTypeOf(check.options[key]) });
      expectConfigInvalid(error, check, key);
    });

    const refs = keys.filter((key) => /^(env|file):/.test(String(check.options[key])));
    it.each(refs)('refuses a literal secret pasted into %s without echoing it', async (key) => {
      const error = await buildError(check, { ...check.options, [key]: check.canary });
      expectConfigInvalid(error, check, key);
    });
  });
}

/**
 * The adapter contract suite. `setup` builds the adapter under test (starting any real server it needs);
 * `check`, when given, also exercises option validation through the same path Escrow uses at start.
 */
export function runAdapterContract(
  name: string,
  setup: () => Promise<ContractSubject>,
  check?: ContractOptionsCheck,
): void {
  runIssueAndInject(name, setup);
  if (check) runOptionChecks(name, check);
}

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EscrowOptions, startEscrow, type TestEscrow } from '../support/escrow.js';
import { createIssuerKeys, type IssuerKeys, signToken, TEST_IDENTITY, TEST_TRUST_DOMAIN } from '../support/keys.js';

/** The people's identity provider: its own keys, its own issuer, tokens that become `Escrow::Human`. */
export const HUMAN_ISSUER = 'https://idp.test';

export function humanIssuer(jwks = 'file:human-jwks.json') {
  return {
    name: 'corp',
    principal: 'Human',
    issuer: HUMAN_ISSUER,
    audience: 'escrow',
    jwks,
    algorithms: ['ES256'],
    claimTags: { groups: 'groups' },
  };
}

/** Agents from the test issuer, people from the corp issuer: two issuers, two key pairs. */
export function twoIssuers() {
  return { issuers: [...TEST_IDENTITY.issuers, humanIssuer()] };
}

/** A person's token from the corp identity provider (`groups` becomes a Cedar tag). */
export function humanToken(
  keys: IssuerKeys,
  sub: string,
  groups: readonly string[] = [],
  expiresIn = 600,
): Promise<string> {
  return signToken(keys, { sub, iss: HUMAN_ISSUER, claims: { groups }, expiresIn });
}

/** A production target whose writes and deletes wait for a person, request by request (policies/approvals.cedar). */
export function perRequestTarget(upstream: string, value = 'env:BILLING_KEY') {
  return {
    name: 'billing',
    upstream,
    attributes: {
      sensitivity: 'medium',
      environment: 'prod',
      trustDomain: TEST_TRUST_DOMAIN,
      approval: 'per-request',
      approvers: 'billing-approvers',
    },
    credential: { adapter: 'header', header: 'x-api-key', value, ttl: 300 },
  };
}

/** A production target whose tasks wait for a person before they start. */
export function perTaskTarget(upstream: string, value = 'env:PAYROLL_KEY') {
  return {
    name: 'payroll',
    upstream,
    attributes: {
      sensitivity: 'medium',
      environment: 'prod',
      trustDomain: TEST_TRUST_DOMAIN,
      approval: 'per-task',
      approvers: 'payroll-approvers',
    },
    credential: { adapter: 'header', header: 'x-api-key', value, ttl: 300 },
  };
}

export interface ApprovalEscrow extends TestEscrow {
  readonly humanKeys: IssuerKeys;
}

/** An in-process Escrow with both issuers and the repository's policies (approvals.cedar among them). */
export async function startApprovalEscrow(
  options: Omit<EscrowOptions, 'configure'> & { humanKeys?: IssuerKeys; approvals?: Record<string, unknown> },
): Promise<ApprovalEscrow> {
  const humanKeys = options.humanKeys ?? (await createIssuerKeys());
  const escrow = await startEscrow({
    ...options,
    configure: (dir) => {
      writeFileSync(join(dir, 'human-jwks.json'), JSON.stringify(humanKeys.jwks));
      return { identity: twoIssuers(), ...(options.approvals ? { approvals: options.approvals } : {}) };
    },
  });
  return Object.assign(escrow, { humanKeys });
}

/** `fetch` with a bearer token and, for a body, JSON. */
export function call(url: string, token: string, init: { method?: string; task?: string; body?: unknown } = {}) {
  return fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${token}`,
      ...(init.task ? { 'x-escrow-task': init.task } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

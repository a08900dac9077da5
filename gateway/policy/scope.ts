import { ACTIONS, type Action, type PrincipalType } from '../domain.js';
import type { PolicyJson } from './cedar.js';

/**
 * Which requests a policy's scope can match, read from its JSON form. `undefined` means "any". Only what the scope
 * pins down exactly narrows it; anything else (`in` a group, an unknown action or type) counts as "any", so a
 * policy is never left out of a request it could apply to.
 */
export interface PolicyScope {
  /** `resource == Escrow::Target::"x"` */
  readonly target: string | undefined;
  readonly actions: ReadonlySet<Action> | undefined;
  readonly principalTypes: ReadonlySet<PrincipalType> | undefined;
}

const ACTION_NAMES: ReadonlySet<string> = new Set<string>(ACTIONS);
const PRINCIPAL_TYPES: Record<string, PrincipalType> = { 'Escrow::Agent': 'Agent', 'Escrow::Human': 'Human' };

type Uid = { type?: string; id: string } | { __entity: { type: string; id: string } };

function plainUid(uid: Uid): { type: string | undefined; id: string } {
  return '__entity' in uid ? uid.__entity : { type: uid.type, id: uid.id };
}

function targetOf(resource: PolicyJson['resource']): string | undefined {
  if (resource.op !== '==' || !('entity' in resource)) return undefined;
  const uid = plainUid(resource.entity);
  return uid.type === 'Escrow::Target' ? uid.id : undefined;
}

function actionsOf(action: PolicyJson['action']): ReadonlySet<Action> | undefined {
  let uids: Uid[];
  if (action.op === '==' && 'entity' in action) uids = [action.entity];
  else if (action.op === 'in' && 'entity' in action) uids = [action.entity];
  else if (action.op === 'in' && 'entities' in action) uids = action.entities;
  else return undefined;
  const ids = uids.map(plainUid);
  // The schema has no action groups; should one appear, `in` it could mean anything, so it narrows nothing.
  if (ids.some((u) => u.type !== 'Escrow::Action' || !ACTION_NAMES.has(u.id))) return undefined;
  return new Set(ids.map((u) => u.id as Action));
}

function principalTypesOf(principal: PolicyJson['principal']): ReadonlySet<PrincipalType> | undefined {
  let type: string | undefined;
  if (principal.op === 'is') type = principal.entity_type;
  else if (principal.op === '==' && 'entity' in principal) type = plainUid(principal.entity).type;
  const known = type === undefined ? undefined : PRINCIPAL_TYPES[type];
  return known === undefined ? undefined : new Set([known]);
}

export function scopeOf(policy: PolicyJson): PolicyScope {
  return {
    target: targetOf(policy.resource),
    actions: actionsOf(policy.action),
    principalTypes: principalTypesOf(policy.principal),
  };
}

/** Whether a policy with this scope can apply to a request for this target (when named), action and principal type. */
export function scopeAdmits(
  scope: PolicyScope,
  target: string | undefined,
  action: Action,
  principalType: PrincipalType,
): boolean {
  if (scope.target !== undefined && scope.target !== target) return false;
  if (scope.actions !== undefined && !scope.actions.has(action)) return false;
  return scope.principalTypes === undefined || scope.principalTypes.has(principalType);
}

import { describe, expect, it } from 'vitest';
import { filterLists, type ListRouting } from '../../../gateway/mcp/filter.js';

const routing = (lists: [number, 'tools' | 'prompts'][] = [], forwarded: number[] = []): ListRouting => ({
  lists: new Map(lists),
  forwarded: new Set([...forwarded, ...lists.map(([id]) => id)]),
});
const allowSearch = (_kind: string, name: string) => name === 'search';

describe('filterLists', () => {
  it('keeps only what the principal may use, in a list answer matched by its request id', () => {
    const payload = { jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'search' }, { name: 'delete_all' }] } };
    const outcome = filterLists(payload, routing([[1, 'tools']]), allowSearch);
    expect(payload.result.tools).toEqual([{ name: 'search' }]);
    expect(outcome).toMatchObject({ matched: true, hidden: new Map([['tools', 1]]) });
  });

  it('leaves out items it cannot name (no name, a non-string name, not an object)', () => {
    const payload = { id: 1, result: { tools: [{ name: 'search' }, { title: 'x' }, { name: 7 }, 'search'] } };
    filterLists(payload, routing([[1, 'tools']]), () => true);
    expect(payload.result.tools).toEqual([{ name: 'search' }]);
  });

  it('never touches the answer of a forwarded request that was not a list', () => {
    const payload = { id: 2, result: { tools: [{ name: 'delete_all' }] } };
    expect(filterLists(payload, routing([], [2]), allowSearch).matched).toBe(false);
    expect(payload.result.tools).toHaveLength(1);
  });

  it('filters by shape an answer to a request it did not forward (a replay on the GET stream)', () => {
    const payload = { id: 99, result: { prompts: [{ name: 'search' }, { name: 'admin' }] } };
    filterLists(payload, routing(), allowSearch);
    expect(payload.result.prompts).toEqual([{ name: 'search' }]);
  });

  it('filters every answer of a batch, and marks a shared-cacheable list private', () => {
    const payload = [
      { id: 1, result: { tools: [{ name: 'search' }, { name: 'x' }], cacheScope: 'public', ttlMs: 60_000 } },
      { id: 2, error: { code: 1, message: 'no' } },
      { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
    ];
    filterLists(payload, routing([[1, 'tools']], [2]), allowSearch);
    expect(payload[0]).toEqual({
      id: 1,
      result: { tools: [{ name: 'search' }], cacheScope: 'private', ttlMs: 60_000 },
    });
  });
});

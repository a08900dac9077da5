import { describe, expect, it } from 'vitest';
import { runSoak } from '../../bench/soak/soak.js';

describe('a short soak (mixed workload, ~10 s) leaves nothing behind: no 5xx, no lease, every lease accounted, RSS flat', () => {
  it('passes every check of bench/soak', async () => {
    const report = await runSoak({ seconds: Number(process.env.SOAK_SECONDS ?? 10), agents: 6 });
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed, JSON.stringify({ failed, counts: report.counts })).toEqual([]);
    expect(report.counts['call 200'] ?? 0).toBeGreaterThan(100);
    expect(report.counts['fault 502'] ?? 0).toBeGreaterThan(0);
  }, 40_000);
});

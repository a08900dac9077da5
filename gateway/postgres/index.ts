import type { LoadedConfig } from '../config/load.js';
import type { Gateway } from '../gateway.js';
import { PostgresListener } from './listener.js';
import { createPostgresMetrics } from './metrics.js';

export { PostgresListener } from './listener.js';

/**
 * One listener per `protocol: postgres` target, not yet listening (gateway/server.ts starts them with the
 * other listeners). Their metrics are registered once, on the gateway's registry.
 */
export function createPostgresListeners(
  gw: Gateway,
  loaded: LoadedConfig,
  secret: (ref: string) => string,
): PostgresListener[] {
  const targets = loaded.config.targets.filter((t) => t.protocol === 'postgres');
  if (targets.length === 0) return [];
  const metrics = createPostgresMetrics(gw.metrics.registry);
  return targets.map((target) => {
    metrics.initialize(target.name);
    // The schema guarantees both for protocol: postgres (gateway/config/schema.ts).
    return new PostgresListener(gw, {
      targetName: target.name,
      listen: target.listen!,
      config: target.postgres!,
      metrics,
      secret,
    });
  });
}

// The answer the bench's upstream gives on every path: 1 KiB of compact JSON, no escape in it. Shared by the
// upstream (bench/servers/upstream.mjs) and the scrub bench, which measures the scrubber on the same bytes.
const items = [];
for (let i = 0; JSON.stringify({ items }).length < 960; i += 1) items.push({ id: i, name: `item-${i}`, ok: true });
const pad = 1024 - JSON.stringify({ items, pad: '' }).length;

export const UPSTREAM_BODY = Buffer.from(JSON.stringify({ items, pad: 'x'.repeat(Math.max(0, pad)) }));

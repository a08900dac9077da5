/** Split `buf` at the given cut points (each taken modulo its length + 1, sorted, deduplicated; no empty piece). */
export function cut(buf: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out.filter((b) => b.length > 0);
}

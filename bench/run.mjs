// `npm run bench`: the harness is TypeScript (bench/run.ts), run through tsx. The proxies it measures run as
// separate plain Node processes (Escrow from dist/ after `npm run build`), so the loader costs them nothing.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'run.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: join(here, '..'),
});
process.exitCode = result.status ?? 1;

// `npm run bench`: the harness is TypeScript (bench/run.ts), run through tsx. The proxies it measures run as
// separate plain Node processes (Escrow from dist/ after `npm run build`), so the loader costs them nothing.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const harness = spawn(process.execPath, ['--import', 'tsx', join(here, 'run.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: join(here, '..'),
});
// A signal sent to this process alone (a CI timeout, `kill`) reaches the harness, which stops what it started.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => harness.kill(signal));
harness.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Child, freePort, startChild } from './process.js';

/** The nginx binary on PATH, or undefined (the harness then skips nginx). */
export function findNginx(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function conf(dir: string, port: number, upstreamPort: number): string {
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  return `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** nginx with one worker process (one core, like one Node process) and keep-alive toward the upstream. */
export async function startNginx(
  binary: string,
  dir: string,
  upstreamPort: number,
): Promise<{ child: Child; port: number }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf(dir, port, upstreamPort));
  const child = await startChild('nginx', binary, ['-c', file, '-p', dir, '-e', join(dir, 'error.log')], {
    readyUrl: `http://127.0.0.1:${port}/bench/ready`,
  });
  return { child, port };
}

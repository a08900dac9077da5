import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM text of a certificate and its key. */
export interface TestCert {
  readonly cert: string;
  readonly key: string;
}

/** Test PKI made with the openssl CLI: a CA, a second unrelated CA, and leaves with chosen extensions. */
export class TestPki {
  readonly #dir = mkdtempSync(join(tmpdir(), 'escrow-pki-'));

  /** A self-signed CA named `name`. */
  ca(name: string): TestCert {
    const key = this.#path(`${name}.key`);
    const cert = this.#path(`${name}.pem`);
    this.#openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    this.#openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return this.#read(name);
  }

  /** A leaf `name` signed by `issuer`, with these extension lines (e.g. `subjectAltName=URI:spiffe://…`). */
  leaf(name: string, issuer: string, extensions: readonly string[]): TestCert {
    const key = this.#path(`${name}.key`);
    const csr = this.#path(`${name}.csr`);
    const ext = this.#path(`${name}.ext`);
    writeFileSync(ext, `${extensions.join('\n')}\n`);
    this.#openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    this.#openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${name}`]);
    this.#openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.#path(`${issuer}.pem`),
      '-CAkey',
      this.#path(`${issuer}.key`),
      '-CAcreateserial',
      '-out',
      this.#path(`${name}.pem`),
      '-days',
      '1',
      '-extfile',
      ext,
    ]);
    return this.#read(name);
  }

  #read(name: string): TestCert {
    return {
      cert: readFileSync(this.#path(`${name}.pem`), 'utf8'),
      key: readFileSync(this.#path(`${name}.key`), 'utf8'),
    };
  }

  #path(file: string): string {
    return join(this.#dir, file);
  }

  #openssl(args: readonly string[]): void {
    execFileSync('openssl', args, { stdio: 'pipe' });
  }
}

/** Extensions of a well-formed X.509-SVID leaf for `spiffeId`. */
export const svidExtensions = (...uris: string[]): string[] => [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=clientAuth,serverAuth',
  ...(uris.length > 0 ? [`subjectAltName=${uris.map((u) => `URI:${u}`).join(',')}`] : []),
];

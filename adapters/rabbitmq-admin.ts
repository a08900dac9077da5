/** The few RabbitMQ management API calls the `rabbitmq` adapter makes, as its admin user. */
import { badField, callEndpoint, type EndpointAnswer, refused } from './endpoint.js';

export interface Permissions {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export interface RabbitAdminOptions {
  readonly managementUrl: string;
  readonly adminUsername: string;
  readonly adminPassword: () => string;
  readonly timeoutMs: number;
}

/** The management API, spoken as the admin. Every failure is `credential_unavailable`, without secrets. */
export class RabbitAdmin {
  readonly #base: string;
  readonly #o: RabbitAdminOptions;

  constructor(options: RabbitAdminOptions) {
    this.#o = options;
    this.#base = options.managementUrl.replace(/\/+$/, '');
  }

  async #call(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<[URL, EndpointAnswer]> {
    const url = new URL(`${this.#base}${path}`);
    const basic = Buffer.from(`${this.#o.adminUsername}:${this.#o.adminPassword()}`).toString('base64');
    const headers: Record<string, string> = { authorization: `Basic ${basic}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const json = body === undefined ? undefined : JSON.stringify(body);
    return [url, await callEndpoint(url, { method, headers, body: json, timeoutMs: this.#o.timeoutMs })];
  }

  /** Create (or reset) a user with a password and tags. */
  async putUser(username: string, password: string, tags: readonly string[]): Promise<void> {
    const [url, answer] = await this.#call('PUT', `/api/users/${encodeURIComponent(username)}`, {
      password,
      tags: tags.join(','),
    });
    if (answer.status !== 201 && answer.status !== 204) throw refused(url, answer, 'creating a RabbitMQ user');
  }

  async putPermissions(vhost: string, username: string, permissions: Permissions): Promise<void> {
    const path = `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(username)}`;
    const [url, answer] = await this.#call('PUT', path, permissions);
    if (answer.status !== 201 && answer.status !== 204) throw refused(url, answer, 'granting RabbitMQ permissions');
  }

  /** Delete a user; a user that is already gone counts as deleted. */
  async deleteUser(username: string): Promise<void> {
    const [url, answer] = await this.#call('DELETE', `/api/users/${encodeURIComponent(username)}`);
    if (answer.status !== 204 && answer.status !== 404) throw refused(url, answer, 'deleting a RabbitMQ user');
  }

  /** Names of all users (only the `name` column is asked for). */
  async listUsernames(): Promise<string[]> {
    const [url, answer] = await this.#call('GET', '/api/users?columns=name');
    if (answer.status !== 200) throw refused(url, answer, 'listing RabbitMQ users');
    let list: unknown;
    try {
      list = JSON.parse(answer.text);
    } catch {
      list = undefined;
    }
    if (!Array.isArray(list)) throw badField(url, 'users');
    return list
      .map((user) => (user as { name?: unknown } | null)?.name)
      .filter((name): name is string => typeof name === 'string');
  }
}

import { createHmac } from 'node:crypto';
import { type Dispatcher, request } from 'undici';
import { randomId } from '../ids.js';
import type { Logger } from '../log.js';
import type { ApprovalMetrics } from './metrics.js';
import type { Approval } from './model.js';
import { jsonBody, type NotificationEvent, slackBody } from './webhook-body.js';

export interface WebhookOptions {
  readonly url: string;
  /** HMAC-SHA256 key of `x-escrow-signature` (absent: unsigned, Slack's format only). */
  readonly secret?: string;
  readonly format: 'json' | 'slack';
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly now: () => number;
  readonly log: Logger;
  readonly metrics: ApprovalMetrics;
  readonly dispatcher?: Dispatcher;
  /** Deliveries waiting beyond this are dropped, oldest first (counted). */
  readonly maxQueue?: number;
}

interface Delivery {
  readonly id: string;
  readonly event: NotificationEvent;
  readonly approval: Approval;
  attempt: number;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the receiver checks it and the time (replays). */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

const RETRYABLE = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Tells people an approval waits, and what became of it: one POST per event, signed, retried with exponential
 * backoff on network errors, timeouts, 408, 429 and 5xx (never following a redirect), in the background. A
 * delivery is at least once while this replica lives; `escrow approvals list` shows what waits regardless. The
 * URL may itself be a secret (Slack's): it is never logged.
 */
export class Webhook {
  readonly #o: WebhookOptions;
  readonly #queue: Delivery[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(options: WebhookOptions) {
    this.#o = options;
  }

  notify(event: NotificationEvent, approval: Approval): void {
    if (this.#closed) return;
    if (this.#queue.length >= (this.#o.maxQueue ?? 1_000)) {
      this.#queue.shift();
      this.#o.metrics.notifications.inc({ result: 'dropped' });
    }
    const delivery = { id: randomId('whd_', 12, 'base64url'), event, approval, attempt: 0 };
    this.#queue.push(delivery);
    void this.#send(delivery);
  }

  async #send(delivery: Delivery): Promise<void> {
    delivery.attempt++;
    const now = this.#o.now();
    const body =
      this.#o.format === 'slack'
        ? slackBody(delivery.event, delivery.approval, now)
        : jsonBody(delivery.event, delivery.approval, delivery.id, now);
    let status = 0;
    try {
      const res = await request(this.#o.url, {
        method: 'POST',
        headers: this.#headers(delivery, body, now),
        body,
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
        ...(this.#o.dispatcher ? { dispatcher: this.#o.dispatcher } : {}),
      });
      status = res.statusCode;
      await res.body.dump();
    } catch {
      status = 0; // network error or timeout: retried
    }
    if (status >= 200 && status < 300) return this.#finish(delivery, 'delivered');
    if ((status === 0 || RETRYABLE(status)) && delivery.attempt < this.#o.maxAttempts && !this.#closed) {
      this.#o.metrics.notifications.inc({ result: 'retried' });
      const delay = Math.min(this.#o.retryBaseMs * 2 ** (delivery.attempt - 1), 60_000);
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        void this.#send(delivery);
      }, delay);
      this.#timers.add(timer);
      return;
    }
    this.#o.log.warn(
      { event: delivery.event, approvalId: delivery.approval.subject.id, status },
      'approval webhook failed',
    );
    this.#finish(delivery, 'failed');
  }

  #headers(delivery: Delivery, body: string, now: number): Record<string, string> {
    return {
      'content-type': 'application/json',
      'user-agent': 'escrow-approvals',
      'x-escrow-event': delivery.event,
      'x-escrow-delivery': delivery.id,
      ...(this.#o.secret ? { 'x-escrow-signature': signature(this.#o.secret, body, Math.floor(now / 1000)) } : {}),
    };
  }

  #finish(delivery: Delivery, result: 'delivered' | 'failed'): void {
    const at = this.#queue.indexOf(delivery);
    if (at !== -1) this.#queue.splice(at, 1);
    this.#o.metrics.notifications.inc({ result });
  }

  /** Deliveries not yet done (waiting for a retry or in flight). */
  get pending(): number {
    return this.#queue.length;
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

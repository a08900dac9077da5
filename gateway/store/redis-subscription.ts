import type { Redis } from 'ioredis';

export interface SubscriptionOptions {
  readonly channel: string;
  /** Ping the subscriber this often; no answer within `timeoutMs` counts as a lost subscription. */
  readonly healthCheckMs: number;
  readonly timeoutMs: number;
  readonly onMessage: (message: string) => void;
  readonly onState: (healthy: boolean) => void;
}

/**
 * Keep `subscriber` subscribed to one channel and report whether notices can be missed. Down: the connection
 * closed (`close`: killed, Redis restarted, network error) or a ping went unanswered (a half-open connection
 * that never closes). Up: only once SUBSCRIBE is confirmed after (re)connecting. Returns a stop function, and
 * `answered`, which settles once the first SUBSCRIBE was answered (confirmed or refused): a process that starts
 * listening only then reports ready from its first request on, instead of for a few milliseconds not.
 */
export function watchSubscription(
  subscriber: Redis,
  options: SubscriptionOptions,
): { stop: () => void; answered: Promise<void> } {
  let healthy = false;
  let firstAnswer: () => void = () => {};
  const answered = new Promise<void>((resolve) => {
    firstAnswer = resolve;
  });
  const report = (next: boolean) => {
    if (next === healthy) return;
    healthy = next;
    options.onState(next);
  };
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === options.channel) options.onMessage(message);
  });
  subscriber.on('close', () => report(false));
  const subscribe = () => {
    // The only SUBSCRIBE (ioredis' autoResubscribe is off): it tells us when the subscription is live.
    subscriber.subscribe(options.channel).then(
      () => {
        report(subscriber.status === 'ready');
        firstAnswer();
      },
      () => {
        report(false);
        firstAnswer();
      },
    );
  };
  subscriber.on('ready', subscribe);
  const check = setInterval(() => {
    if (subscriber.status !== 'ready') return;
    // Connected but not subscribed (SUBSCRIBE was refused, e.g. by an ACL): keep trying.
    if (!healthy) subscribe();
    else ping(subscriber, options.timeoutMs, () => report(false));
  }, options.healthCheckMs);
  check.unref();
  return { stop: () => clearInterval(check), answered };
}

/** A ping unanswered within `timeoutMs` drops the connection so that it reconnects and resubscribes. */
function ping(subscriber: Redis, timeoutMs: number, onLost: () => void): void {
  let answered = false;
  const timer = setTimeout(() => {
    if (answered) return;
    onLost();
    subscriber.disconnect(true);
  }, timeoutMs);
  subscriber.ping().then(
    () => {
      answered = true;
      clearTimeout(timer);
    },
    () => {},
  );
}

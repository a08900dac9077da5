import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Escrow's logger. Request headers are never logged; as belt and braces, any field named like a credential
 * is redacted wherever it appears.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.ESCROW_LOG_LEVEL ?? 'info',
      base: { service: 'escrow' },
      redact: {
        paths: [
          'authorization',
          'token',
          'secret',
          'password',
          '*.authorization',
          '*.token',
          '*.secret',
          '*.password',
          'headers',
          '*.headers',
        ],
        censor: '<redacted>',
      },
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

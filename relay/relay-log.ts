import { pino, type Logger } from 'pino';

/**
 * One JSON line per event on stdout (CloudWatch Logs in AWS). Field names are
 * stable so that a mail admin can follow one message with a single filter on
 * `session` from connect to SES message id.
 *
 * Redaction is a backstop, not the mechanism: no code path hands a password,
 * an AUTH line or key material to the logger in the first place.
 */
export function createRelayLog(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', '*.password', 'auth', '*.auth', 'privateKey', '*.privateKey', 'key', 'tls.key'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type RelayLog = Logger;

import { pino, type Logger } from 'pino';
import { humanLogStream } from './human-log-line.ts';

/** How the log is written: `json` for CloudWatch and log tools, `text` for a person (see human-log-line.ts). */
export type LogFormat = 'json' | 'text';

/**
 * LOG_FORMAT when set; otherwise text on a terminal and JSON everywhere else
 * (the container's stdout is no terminal: CloudWatch gets JSON).
 */
export function logFormatFrom(env: NodeJS.ProcessEnv, stdoutIsTerminal = Boolean(process.stdout.isTTY)): LogFormat {
  if (env.LOG_FORMAT === 'json' || env.LOG_FORMAT === 'text') return env.LOG_FORMAT;
  if (env.LOG_FORMAT) throw new Error(`LOG_FORMAT: must be json or text, not ${JSON.stringify(env.LOG_FORMAT)}`);
  return stdoutIsTerminal ? 'text' : 'json';
}

/**
 * One event a line on stdout. As JSON (CloudWatch Logs in AWS), field names
 * are stable so that a mail admin can follow one message with a single filter
 * on `session` from connect to SES message id; as text, one line in Postfix's
 * manner. A given `destination` always gets JSON (tests read it).
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
    destination ??
      (logFormatFrom(process.env) === 'text' ? humanLogStream(process.stdout) : pino.destination({ dest: 1, sync: false })),
  );
}

export type RelayLog = Logger;

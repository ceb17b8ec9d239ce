import type { z } from 'zod';
import { ExposedSecretError } from './private-path.ts';

/**
 * A reason the relay cannot start that its operator can fix: each line names
 * what is wrong (a setting, a port, a file) and how to put it right.
 */
export class StartupError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('; '));
    this.name = 'StartupError';
  }
}

/** The environment variable that sets each listener's port. */
const PORT_SETTINGS = {
  submission: 'SUBMISSION_PORT',
  submissions: 'SUBMISSIONS_PORT',
  health: 'HEALTH_PORT',
} as const;

export type Listener = keyof typeof PORT_SETTINGS;

/**
 * A listener could not bind its port: taken by another program (EADDRINUSE),
 * or below 1024 for a user who may not bind there (EACCES).
 */
export function listenFailure(listener: Listener, address: string, port: number, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const setting = PORT_SETTINGS[listener];
  const where = `port ${port} on ${address} (${setting})`;
  if (code === 'EADDRINUSE') return new StartupError([`${where} is in use by another program: stop it, or set ${setting} to a free port`]);
  if (code === 'EACCES') return new StartupError([`${where} needs privileges this user lacks: set ${setting} to a port above 1023`]);
  if (code === 'EADDRNOTAVAIL') return new StartupError([`${where}: this machine has no address ${address}: check RELAY_LISTEN`]);
  return error;
}

/** Zod's findings on the environment as `SETTING: problem` lines, one per setting. */
export function settingProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const setting = issue.path.join('.');
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${setting}: not set`;
    if (issue.code === 'invalid_type') return `${setting}: must be a ${issue.expected}`;
    return `${setting}: ${issue.message}`;
  });
}

/**
 * What a person sees when start-up fails: the fix for a known problem, one
 * line otherwise. Never a stack trace: an unexpected error is a bug, and its
 * name and message are what a report needs.
 */
export function startupFailureLines(error: unknown): string[] {
  if (error instanceof StartupError) return [...error.lines];
  if (error instanceof ExposedSecretError) return [error.message];
  if (error instanceof Error) return [`${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`.replace(/\s*\n\s*/g, ' ')];
  return [String(error)];
}

/** Writes the failure to stderr, each line prefixed with `program`, and ends the process with status 1. */
export function exitWithStartupFailure(program: string, error: unknown): never {
  process.stderr.write(startupFailureLines(error).map((line) => `${program}: ${line}\n`).join(''));
  process.exit(1);
}

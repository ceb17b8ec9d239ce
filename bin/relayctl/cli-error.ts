/**
 * relayctl's exit codes: scripts branch on them, so each names one kind of
 * outcome and never changes meaning.
 */
export const ExitCode = {
  ok: 0,
  /** Bad usage or invalid input (an address, a CIDR, a tag, an empty password, an unreadable file). */
  invalidInput: 1,
  /** `who`: nobody may send as the address (a miss, as postmap -q and grep answer it). */
  nobody: 1,
  /** The user or grant named does not exist. */
  notFound: 2,
  /** It exists already, or someone else owns it (a duplicate user, an address another user owns). */
  conflict: 3,
  /** The store (or SES) could not be reached or used: endpoint down, table missing, no credentials. */
  backendUnavailable: 4,
  /** `doctor` found at least one failing check. */
  checksFailed: 5,
  /** `auth test`: the relay would refuse that login (the reason is printed). */
  authRefused: 6,
  /** The operator answered no to a confirmation question. */
  notConfirmed: 7,
  /** A bug: an error nobody expected (sysexits' EX_SOFTWARE). */
  internal: 70,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An outcome relayctl reports to its user: one line of text for stderr, and
 * the exit code that says what kind of outcome it was.
 */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

import { CliError, ExitCode } from './cli-error.ts';

/**
 * Shortest password relayctl sets without `--allow-weak`. A relay password is
 * typed once into a mail client and kept there, so length costs the user
 * little; NIST SP 800-63B asks at least 8 and a blocklist, and a password
 * that lets anyone send mail in the organisation's name deserves more.
 */
export const MIN_PASSWORD_LENGTH = 12;

/**
 * Refuses a password that a guesser tries early: shorter than
 * `MIN_PASSWORD_LENGTH` characters, or on the common-password list of
 * zxcvbn-ts (about 49,000 passwords from breaches, matched ignoring case).
 * The message names the rule, never the password.
 */
export async function refuseWeakPassword(password: string): Promise<void> {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw weak(`the password is shorter than ${MIN_PASSWORD_LENGTH} characters`);
  }
  if ((await commonPasswords()).has(password.toLowerCase())) throw weak('the password is on a list of common passwords');
}

function weak(reason: string): CliError {
  return new CliError(ExitCode.invalidInput, `${reason}; choose another, let relayctl generate one (leave out --password-stdin), or give --allow-weak`);
}

let common: Promise<ReadonlySet<string>> | undefined;

/** Loaded on first use: the list is about 400 kB and only password changes need it. */
function commonPasswords(): Promise<ReadonlySet<string>> {
  common ??= import('@zxcvbn-ts/language-common').then(({ dictionary }) => new Set(dictionary['passwords-common'].map((entry) => entry.toLowerCase())));
  return common;
}

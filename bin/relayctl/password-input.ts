import { randomBytes } from 'node:crypto';
import { CliError, ExitCode } from './cli-error.ts';
import { refuseWeakPassword } from './password-strength.ts';

export interface NewPassword {
  readonly password: string;
  /** relayctl made it: the caller prints it, once, since nobody else knows it. */
  readonly generated: boolean;
}

/** 18 random bytes: 144 bits, 24 characters of URL-safe base-64. */
const GENERATED_PASSWORD_BYTES = 18;

/** How `user add` / `user passwd` get the password: the options they share. */
export interface PasswordOptions {
  /** Read it from stdin instead of generating one. */
  readonly passwordStdin?: boolean;
  /** Take a short or common password all the same. */
  readonly allowWeak?: boolean;
}

/**
 * The password for `user add` / `user passwd`: read from stdin with
 * `--password-stdin` (so it never sits in the shell history or the process
 * list), else generated. A given password must be strong unless
 * `--allow-weak` says otherwise. Only `hashPassword` ever sees it.
 */
export async function newPassword(options: PasswordOptions, stdin: NodeJS.ReadStream = process.stdin): Promise<NewPassword> {
  if (options.passwordStdin !== true) return { password: generatePassword(), generated: true };
  const password = await passwordFromStdin(stdin);
  if (options.allowWeak !== true) await refuseWeakPassword(password);
  return { password, generated: false };
}

/** One line of stdin, less its line ending: a password given the way `docker login --password-stdin` takes one. */
export async function passwordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) process.stderr.write('reading the password from standard input; end it with Enter and Ctrl-D\n');
  const chunks: Buffer[] = [];
  // A confirmation question asked on the terminal first leaves stdin paused.
  stdin.resume();
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  // `echo` and here-strings end the password with a newline that is not part of it.
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new CliError(ExitCode.invalidInput, 'no password on standard input');
  if (/[\r\n]/.test(password)) {
    throw new CliError(ExitCode.invalidInput, 'the password on standard input spans several lines; give one line');
  }
  return password;
}

function generatePassword(): string {
  for (;;) {
    const password = randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url');
    // A leading '-' reads as an option to the next tool it is pasted into (swaks, curl).
    if (!password.startsWith('-')) return password;
  }
}

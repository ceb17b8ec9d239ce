import { randomBytes } from 'node:crypto';
import { CliError, ExitCode } from './cli-error.ts';

export interface NewPassword {
  readonly password: string;
  /** relayctl made it: the caller prints it, once, since nobody else knows it. */
  readonly generated: boolean;
}

/** 18 random bytes: 144 bits, 24 characters of URL-safe base-64. */
const GENERATED_PASSWORD_BYTES = 18;

/**
 * The password for `user add` / `user passwd`: read from stdin with
 * `--password-stdin` (so it never sits in the shell history or the process
 * list), else generated. Only `hashPassword` ever sees it.
 */
export async function newPassword(fromStdin: boolean, stdin: NodeJS.ReadStream = process.stdin): Promise<NewPassword> {
  if (!fromStdin) return { password: generatePassword(), generated: true };
  if (stdin.isTTY) process.stderr.write('reading the password from standard input; end it with Enter and Ctrl-D\n');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  // `echo` and here-strings end the password with a newline that is not part of it.
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new CliError(ExitCode.invalidInput, 'no password on standard input');
  if (/[\r\n]/.test(password)) {
    throw new CliError(ExitCode.invalidInput, 'the password on standard input spans several lines; give one line');
  }
  return { password, generated: false };
}

function generatePassword(): string {
  for (;;) {
    const password = randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url');
    // A leading '-' reads as an option to the next tool it is pasted into (swaks, curl).
    if (!password.startsWith('-')) return password;
  }
}

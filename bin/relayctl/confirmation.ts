import { createInterface } from 'node:readline/promises';
import { CliError, ExitCode } from './cli-error.ts';

/**
 * Asks the operator to confirm a change that cannot be undone (a removed user,
 * a replaced password) on the terminal. `--yes` confirms it beforehand; with
 * no terminal to ask on (a script, a pipe) and no `--yes` the command is
 * refused, since a script that meant it says so.
 */
export async function confirmOrRefuse(question: string, yes: boolean | undefined, terminal: NodeJS.ReadStream = process.stdin): Promise<void> {
  if (yes === true) return;
  if (!terminal.isTTY) {
    throw new CliError(ExitCode.invalidInput, `${question.replace(/\?$/, '')}: not confirmed (no terminal to ask on); give --yes to confirm`);
  }
  const prompt = createInterface({ input: terminal, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(ExitCode.notConfirmed, 'not confirmed; nothing changed');
  } finally {
    prompt.close();
  }
}

import { canonicalGrant, parseMailAddress, type AddressParseResult } from '../../lambda/mail-address.ts';
import { CliError, ExitCode } from './cli-error.ts';

const PROBLEMS: Readonly<Record<Extract<AddressParseResult, { ok: false }>['problem'], string>> = {
  syntax: 'not a mail address',
  'non-ascii-local-part': 'a local part outside ASCII needs SMTPUTF8, which SES does not offer',
  'not-fully-qualified': 'the domain is not fully qualified',
};

/** A login named on the command line, in the canonical form the store keys on. */
export function loginArgument(text: string): string {
  const parsed = parseMailAddress(text);
  if (!parsed.ok) throw new CliError(ExitCode.invalidInput, `invalid address "${text}": ${PROBLEMS[parsed.problem]}`);
  return parsed.address;
}

/** An address or `@domain` to grant, canonical. */
export function grantArgument(text: string): string {
  const grant = canonicalGrant(text);
  if (grant === undefined) {
    throw new CliError(ExitCode.invalidInput, `invalid sender "${text}": give an address (sales@example.org) or a domain (@example.org)`);
  }
  return grant;
}

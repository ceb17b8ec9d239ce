import { Command } from 'commander';
import type { SenderGrantKind } from '../../lambda/policy-contract.ts';
import type { OwnershipStep, SenderOwnership } from '../../lambda/sender-owner.ts';
import type { UserStore } from '../../lambda/user-store.ts';
import { loginArgument } from './address-argument.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { examples } from './help-text.ts';

/** Why nobody may send as an address: the resolver's reasons, and an owner that is no user. */
type NobodyReason = Extract<SenderOwnership, { why: string }>['why'] | 'no-such-user';

/** The answer of `relayctl who`, as `--json` prints it. */
export type WhoAnswer =
  | {
      readonly address: string;
      readonly owner: string;
      readonly via: SenderGrantKind;
      readonly steps: readonly OwnershipStep[];
      /** The owner may not log in now; the address stays theirs. */
      readonly disabled: boolean;
      /** The domain grant that would cover the address, were it not owned explicitly. */
      readonly outranks?: { readonly grant: string; readonly owner: string };
    }
  | { readonly address: string; readonly owner: null; readonly why: NobodyReason; readonly steps: readonly OwnershipStep[] };

export function whoCommand(): Command {
  return new Command('who')
    .description('who may send as an address, and through which login, grant, alias chain or domain grant')
    .argument('<address>', 'the envelope sender to look up')
    .addHelpText(
      'after',
      `
Answers what the relay's sender check answers (the same code decides both), in the order
Postfix looks up smtpd_sender_login_maps: a user's login is that user's; an address granted
or aliased to a user is that user's alone; only an address nobody owns explicitly falls to
the grant of its domain. Exit code 0 when someone owns the address (a disabled owner is
named and marked), 1 when nobody may send as it.
` +
        examples('relayctl who ceo@example.org', 'relayctl --json who info@example.org | jq -r .owner'),
    )
    .action(async (addressText: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const address = loginArgument(addressText);
      const answer = await context.withStore((store) => whoMaySendAs(store, address));
      if (answer.owner === null) {
        context.print(answer, () => []);
        throw new CliError(ExitCode.nobody, `nobody may send as ${address}: ${NOBODY[answer.why]}${answer.steps.length ? ` (${answer.steps.map(describeStep).join(', ')})` : ''}`);
      }
      context.print(answer, describeAnswer);
    });
}

const NOBODY: Readonly<Record<NobodyReason, string>> = {
  unclaimed: 'no user has it as login, no grant or alias names it, and its domain is not granted',
  'alias-chain-broken': 'its alias chain is too long or loops',
  'no-such-user': 'it leads to an address that is no user',
};

async function whoMaySendAs(store: UserStore, address: string): Promise<WhoAnswer> {
  // Loaded on use, like the store: it brings the AWS SDK with it.
  const { followGrant, ownerOfSender } = await import('../../lambda/sender-owner.ts');
  const ownership = await ownerOfSender(store, address);
  if (ownership.owner === undefined) return { address, owner: null, why: ownership.why, steps: ownership.steps };
  const user = await store.getUser(ownership.owner);
  if (!user) return { address, owner: null, why: 'no-such-user', steps: ownership.steps };
  const found = { address, owner: ownership.owner, via: ownership.via, steps: ownership.steps, disabled: user.disabled };
  if (ownership.via === 'domain') return found;
  const domain = `@${address.slice(address.lastIndexOf('@') + 1)}`;
  const byDomain = await followGrant(store, domain);
  return byDomain?.owner !== undefined && byDomain.owner !== ownership.owner ? { ...found, outranks: { grant: domain, owner: byDomain.owner } } : found;
}

const VIA: Readonly<Record<SenderGrantKind, string>> = {
  login: 'its own login',
  address: 'address grant',
  alias: 'alias',
  domain: 'domain grant',
};

function describeAnswer(answer: Extract<WhoAnswer, { owner: string }>): string[] {
  return [
    `${answer.address}: ${answer.owner} (${VIA[answer.via]})`,
    ...answer.steps.map((step) => `  ${describeStep(step)}`),
    ...(answer.disabled ? [`  ${answer.owner} is disabled: it may not log in, and the address stays its own`] : []),
    ...(answer.outranks ? [`  ${answer.outranks.grant} is granted to ${answer.outranks.owner}, but does not cover ${answer.address}: an address owned explicitly comes first`] : []),
  ];
}

function describeStep(step: OwnershipStep): string {
  return 'owner' in step ? `${step.grant} granted to ${step.owner}` : `${step.grant} alias of ${step.aliasOf}`;
}

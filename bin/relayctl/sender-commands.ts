import { Command } from 'commander';
import type { UserStore } from '../../lambda/user-store.ts';
import { grantArgument, loginArgument } from './address-argument.ts';
import { describeClaim, existingClaim, takeFromDomainHolder, type AddressClaim } from './address-claim.ts';
import { announceChange } from './change-announcement.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { REVOCATION_NOTE, examples } from './help-text.ts';
import { describeSender, removeSenders, sendersLeadingTo, sendersThrough } from './sender-tree.ts';
import { refusedAs } from './store-refusal.ts';

export function senderCommand(): Command {
  const sender = new Command('sender').description('which envelope senders a user may use besides its login: addresses and whole domains');

  sender
    .command('grant')
    .description('let a user send as an address, or as any address of a domain (@example.org)')
    .argument('<user>', 'the login')
    .argument('<address|@domain>', 'the address or domain to grant; each is granted to one user only')
    .addHelpText('after', examples('relayctl sender grant john@example.org sales@example.org', 'relayctl sender grant john@example.org @example.org'))
    .action(async (userText: string, grantText: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(userText);
      const grant = grantArgument(grantText);
      if (grant === login) throw new CliError(ExitCode.conflict, `${login} is the user's own login: it sends as it without a grant`);
      const note = await context.withStore(async (store) => {
        await requireUser(store, login);
        const claim = await existingClaim(store, grant);
        if (claim?.by === 'grant' && claim.owner === login) throw new CliError(ExitCode.conflict, `${grant} is granted to ${login} already`);
        if (claim) throw new CliError(ExitCode.conflict, `${describeClaim(grant, claim)}; an address belongs to one user only`);
        await refusedAs(
          store.putSender({ grant, owner: login, createdAt: new Date().toISOString() }),
          ExitCode.conflict,
          `${grant} was granted to someone else meanwhile`,
        );
        if (grant.startsWith('@')) return `addresses of ${grant.slice(1)} that are logins, or granted or aliased to others, stay theirs (relayctl who <address> tells)`;
        // Allowed (a team address inside a domain a system account sends for), but the
        // domain's holder loses the address, which is worth saying.
        return takeFromDomainHolder(store, grant, login);
      });
      if (note) process.stderr.write(`note: ${note}\n`);
      context.print({ user: login, grant, kind: grant.startsWith('@') ? 'domain' : 'address' }, () => [`granted ${grant} to ${login}`]);
    });

  sender
    .command('revoke')
    .description('take back an address, domain or alias from a user, with the aliases that led to the user through it')
    .argument('<user>', 'the login')
    .argument('<address|@domain>', 'the granted address, domain or alias')
    .addHelpText('after', REVOCATION_NOTE + examples('relayctl sender revoke john@example.org sales@example.org', 'relayctl sender revoke john@example.org @example.org'))
    .action(async (userText: string, grantText: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(userText);
      const grant = grantArgument(grantText);
      const revoked = await context.withStore(async (store) => {
        await requireUser(store, login);
        const senders = await sendersLeadingTo(store, login);
        if (!senders.some((entry) => entry.grant === grant)) {
          const claim = await existingClaim(store, grant);
          throw new CliError(ExitCode.notFound, notGrantedMessage(login, grant, claim));
        }
        const removed = sendersThrough(senders, grant);
        await removeSenders(store, login, removed);
        await announceChange(store, login, 'senders');
        return removed.map((entry) => entry.grant);
      });
      context.print({ user: login, revoked }, (view) => view.revoked.map((address) => `revoked ${address} from ${login}`));
    });

  sender
    .command('list')
    .description('list what a user may send as besides its login, aliases of aliases included')
    .argument('<user>', 'the login')
    .addHelpText('after', examples('relayctl sender list john@example.org', 'relayctl --json sender list john@example.org'))
    .action(async (userText: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(userText);
      const senders = await context.withStore(async (store) => {
        await requireUser(store, login);
        return sendersLeadingTo(store, login);
      });
      if (senders.length === 0 && !context.json) process.stderr.write(`${login} sends as its login only\n`);
      context.print({ user: login, senders }, (view) => view.senders.map(describeSender));
    });

  return sender;
}

async function requireUser(store: UserStore, login: string): Promise<void> {
  if (!(await store.getUser(login))) throw new CliError(ExitCode.notFound, `no user ${login}`);
}

/** Why `sender revoke` has nothing to take back, in plain words. */
function notGrantedMessage(login: string, grant: string, claim: AddressClaim | undefined): string {
  if (claim === undefined) return `${grant} was never granted to ${login}, nor to anyone: nothing to revoke (see relayctl sender list ${login})`;
  if (claim.by === 'login' && grant === login) return `${grant} is the login of ${login}, not a grant: remove the user instead (relayctl user rm)`;
  return `${grant} is not granted to ${login}: ${describeClaim(grant, claim)}`;
}

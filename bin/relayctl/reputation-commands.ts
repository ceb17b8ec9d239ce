import { Command } from 'commander';
import { REPUTATION_WINDOWS } from '../../lambda/reputation-policy.ts';
import type { MessageRecord } from '../../lambda/reputation-store.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { examples } from './help-text.ts';
import { byRisk, rateText, reputationView } from './reputation-view.ts';

const REPUTATION_HELP = `
Rates are per recipient: hard bounces (what SES counts) and complaints over recipients
sent, in the last 24 hours and 7 days. Thresholds: the stage's (REPUTATION_THRESHOLDS in
this shell, else the defaults) with each user's own; docs/reputation.md explains them.
`;

/** `relayctl reputation`: every user's sending reputation, the riskiest first. */
export function reputationCommand(): Command {
  return new Command('reputation')
    .description('list users by reputation risk: restricted first, then by how near their rates are to suspension')
    .addHelpText('after', REPUTATION_HELP + examples('relayctl reputation', "relayctl --json reputation | jq -r '.[] | select(.state == \"suspended\") | .login'"))
    .action(async (_options: object, command: Command) => {
      const context = contextOf(command);
      const views = await context.withReputation(
        async (store, reputation) => Promise.all((await store.listUsers()).map((user) => reputationView(user, reputation!))),
        { required: true },
      );
      views.sort(byRisk);
      const width = Math.max(5, ...views.map((view) => view.login.length));
      context.print(views, (list) => [
        `${'login'.padEnd(width)}  ${'state'.padEnd(10)}  ${REPUTATION_WINDOWS.map(({ name }) => `${`sent ${name}`.padStart(12)}  ${'bounces'.padStart(9)}  ${'complaints'.padStart(10)}`).join('  ')}  reason`,
        ...list.map(
          (view) =>
            `${view.login.padEnd(width)}  ${view.state.padEnd(10)}  ${REPUTATION_WINDOWS.map(({ name }) => {
              const window = view.windows[name];
              return `${String(window.sent).padStart(12)}  ${rateText(window.bounceRate).padStart(9)}  ${rateText(window.complaintRate).padStart(10)}`;
            }).join('  ')}  ${view.restriction?.reason ?? ''}`,
        ),
      ]);
    });
}

/** `relayctl message show`: the event trail of one message. */
export function messageCommand(): Command {
  const message = new Command('message').description("follow a message through SES's events");
  message
    .command('show')
    .description('print the event trail of a message (send, delivery, bounce, complaint, reject, delay), kept 14 days')
    .argument('<id>', "SES's message id (the relay's `250 Ok: queued as <id>`), or the message's Message-ID header")
    .addHelpText('after', examples('relayctl message show 0100018c4f2b9a1e-6f1c8a2e-...-000000', "relayctl message show '<abc@example.org>'", 'relayctl --json message show abc@example.org'))
    .action(async (id: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const found = await context.withReputation(async (store, reputation) => {
        const messages = await reputation!.findMessages(id);
        const logins = new Map<string, string>();
        for (const record of messages) {
          if (record.userId && !logins.has(record.userId)) logins.set(record.userId, (await store.loginOfUserId(record.userId)) ?? '(removed user)');
        }
        return messages.map((record) => ({ ...record, login: record.userId ? logins.get(record.userId)! : null }));
      }, { required: true });
      if (found.length === 0) throw new CliError(ExitCode.notFound, `no message ${id} (SES events are kept 14 days; a message without events yet has none)`);
      context.print(found, (list) => list.flatMap((record, index) => [...(index > 0 ? [''] : []), ...trailLines(record)]));
    });
  return message;
}

function trailLines(record: MessageRecord & { login: string | null }): string[] {
  const field = (label: string, value: string) => `${label.padEnd(18)} ${value}`;
  return [
    field('SES message id', record.sesMessageId),
    ...(record.messageIdHeader ? [field('Message-ID', record.messageIdHeader)] : []),
    field('user', record.login ?? '(no relay-user tag)'),
    field('sent', record.sentAt),
    field('recipients', record.destination.join(', ')),
    ...(record.configurationSet ? [field('configuration set', record.configurationSet)] : []),
    ...record.trail.map((entry) => field(entry.at, `${entry.type.padEnd(13)} ${entry.recipients.join(', ')}${entry.detail ? `  (${entry.detail})` : ''}`)),
  ];
}

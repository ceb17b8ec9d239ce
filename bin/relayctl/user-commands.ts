import { Command } from 'commander';
import type { RestrictionHistoryEntry, UserRecord, UserRestriction, UserSettings } from '../../lambda/user-store.ts';
import { loginArgument } from './address-argument.ts';
import { describeClaim, existingClaim, takeFromDomainHolder } from './address-claim.ts';
import { announceChange } from './change-announcement.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { REVOCATION_NOTE, examples } from './help-text.ts';
import { confirmOrRefuse } from './confirmation.ts';
import { effectiveSettings } from './effective-settings.ts';
import { newPassword, type PasswordOptions } from './password-input.ts';
import { MIN_PASSWORD_LENGTH } from './password-strength.ts';
import { classifyPasswordHash } from './password-scheme.ts';
import { describeSender, removeSenders, sendersLeadingTo } from './sender-tree.ts';
import { repeatable } from './repeatable-option.ts';
import { addRestrictionCommands } from './restriction-commands.ts';
import { refusedAs } from './store-refusal.ts';
import { changedSettings, type SettingsOptions } from './user-settings-change.ts';
import { REPUTATION_WINDOWS } from '../../lambda/reputation-policy.ts';
import { describeWindow, reputationView } from './reputation-view.ts';

/** A user as relayctl shows it: everything but the password hash, whose scheme stands in for it. */
interface UserSummary {
  readonly login: string;
  readonly disabled: boolean;
  /** `scrypt`, or the legacy scheme an imported user keeps until their next login. */
  readonly passwordScheme: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Warned, throttled or suspended, by the reputation guard or an operator. */
  readonly restriction?: UserRestriction;
}

const UNUSABLE_SCHEME = 'unusable';

const PASSWORD_STDIN_HELP = 'read the password from standard input (one line) instead of generating one';
const ALLOW_WEAK_HELP = `take a password shorter than ${MIN_PASSWORD_LENGTH} characters or on a list of common passwords`;
const YES_HELP = 'do it without asking (needed where there is no terminal to ask on)';

/** One limit of a user as it applies: its own, the relay's default, or a throttle's; 0 is no limit. */
interface EffectiveLimit {
  readonly value: number;
  readonly source: 'own' | 'default' | 'throttled';
}

export function userCommand(): Command {
  const user = new Command('user').description('add, change, show and remove relay users (logins)');

  user
    .command('add')
    .description('add a user; without --password-stdin a strong password is generated and printed once')
    .argument('<address>', 'the login, a mail address; the user may always send as it')
    .option('--password-stdin', PASSWORD_STDIN_HELP)
    .option('--allow-weak', ALLOW_WEAK_HELP)
    .addHelpText(
      'after',
      examples(
        'relayctl user add john@example.org',
        "printf '%s' \"$PASSWORD\" | relayctl user add john@example.org --password-stdin",
        'relayctl --json user add john@example.org | jq -r .password',
      ),
    )
    .action(async (address: string, options: PasswordOptions, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      const { password, generated } = await newPassword(options);
      const passwordHash = await hashOrRefuse(password);
      const created = await context.withStore(async (store) => {
        const claim = await existingClaim(store, login);
        if (claim?.by === 'login') throw new CliError(ExitCode.conflict, `user ${login} exists already`);
        if (claim) throw new CliError(ExitCode.conflict, `${describeClaim(login, claim)} as a sender; revoke that first`);
        const user = await refusedAs(store.createUser(login, passwordHash), ExitCode.conflict, `user ${login} exists already`);
        const note = await takeFromDomainHolder(store, login, login);
        if (note) process.stderr.write(`note: ${note}\n`);
        return user;
      });
      context.print({ ...summaryOf(created), ...(generated ? { password } : {}) }, () => [
        `added user ${login}`,
        ...(generated ? [`password (shown this once, keep it now): ${password}`] : []),
      ]);
    });

  user
    .command('passwd')
    .description("set a user's password; without --password-stdin a strong one is generated and printed once")
    .argument('<address>', 'the login')
    .option('--password-stdin', PASSWORD_STDIN_HELP)
    .option('--allow-weak', ALLOW_WEAK_HELP)
    .option('-y, --yes', YES_HELP)
    .addHelpText(
      'after',
      REVOCATION_NOTE + examples('relayctl user passwd john@example.org', 'relayctl user passwd john@example.org --password-stdin --yes < new-password.txt'),
    )
    .action(async (address: string, options: PasswordOptions & { yes?: boolean }, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      await confirmOrRefuse(`Replace the password of ${login}?`, options.yes);
      const { password, generated } = await newPassword(options);
      const passwordHash = await hashOrRefuse(password);
      await context.withStore(async (store) => {
        await refusedAs(store.updateUser(login, { passwordHash }), ExitCode.notFound, `no user ${login}`);
        await announceChange(store, login, 'password');
      });
      context.print({ login, passwordChanged: true, ...(generated ? { password } : {}) }, () => [
        `changed the password of ${login}`,
        ...(generated ? [`password (shown this once, keep it now): ${password}`] : []),
      ]);
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    user
      .command(name)
      .description(disabled ? 'refuse the user at login (its data and grants stay)' : 'let a disabled user log in again')
      .argument('<address>', 'the login')
      .addHelpText('after', `${disabled ? REVOCATION_NOTE : ''}${examples(`relayctl user ${name} john@example.org`)}`)
      .action(async (address: string, _options: object, command: Command) => {
        const context = contextOf(command);
        const login = loginArgument(address);
        await context.withStore(async (store) => {
          await refusedAs(store.updateUser(login, { disabled }), ExitCode.notFound, `no user ${login}`);
          await announceChange(store, login, name === 'disable' ? 'disabled' : 'enabled');
        });
        context.print({ login, disabled }, () => [`${disabled ? 'disabled' : 'enabled'} ${login}`]);
      });
  }

  user
    .command('rm')
    .alias('remove')
    .description('remove a user and every sender grant and alias that leads to it')
    .argument('<address>', 'the login')
    .option('-y, --yes', YES_HELP)
    .addHelpText('after', REVOCATION_NOTE + examples('relayctl user rm john@example.org', 'relayctl user rm john@example.org --yes'))
    .action(async (address: string, options: { yes?: boolean }, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      const removedSenders = await context.withStore(async (store) => {
        if (!(await store.getUser(login))) throw new CliError(ExitCode.notFound, `no user ${login}`);
        // An alias left pointing at a removed login would pass to whoever gets that login next.
        const senders = await sendersLeadingTo(store, login);
        const alsoRemoved = senders.length > 0 ? ` and what it may send as (${senders.map((entry) => entry.grant).join(', ')})` : '';
        await confirmOrRefuse(`Remove user ${login}${alsoRemoved}?`, options.yes);
        await removeSenders(store, login, senders);
        await refusedAs(store.removeUser(login), ExitCode.notFound, `no user ${login}`);
        await announceChange(store, login, 'removed');
        return senders.map((entry) => entry.grant);
      });
      context.print({ login, removed: true, removedSenders }, () => [
        `removed user ${login}`,
        ...removedSenders.map((grant) => `removed sender ${grant}`),
      ]);
    });

  user
    .command('list')
    .description('list the users (never their password hashes)')
    .addHelpText('after', examples('relayctl user list', "relayctl --json user list | jq -r '.[] | select(.disabled) | .login'"))
    .action(async (_options: object, command: Command) => {
      const context = contextOf(command);
      const users = (await context.withStore((store) => store.listUsers())).map(summaryOf);
      if (users.length === 0 && !context.json) process.stderr.write('no users yet; add one with: relayctl user add <address>\n');
      const width = Math.max(0, ...users.map((entry) => entry.login.length));
      context.print(users, (list) =>
        list.map((entry) => `${entry.login.padEnd(width)}  ${entry.disabled ? 'disabled' : 'enabled '}  ${entry.passwordScheme.padEnd(12)}  ${entry.createdAt}`),
      );
    });

  user
    .command('show')
    .description("show a user: state, restriction, password scheme, the addresses it may send as (grants, aliases), settings, the limits that apply (own, the relay's default, or throttled) and sending reputation")
    .argument('<address>', 'the login')
    .addHelpText('after', examples('relayctl user show john@example.org', 'relayctl --json user show john@example.org'))
    .action(async (address: string, _options: object, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      const shown = await context.withReputation(async (store, reputation) => {
        const record = await store.getUser(login);
        if (!record) throw new CliError(ExitCode.notFound, `no user ${login}`);
        return {
          ...summaryOf(record),
          senders: await sendersLeadingTo(store, login),
          settings: record.settings,
          reputation: reputation ? await reputationView(record, reputation) : null,
          effectiveLimits: effectiveLimitsOf(record),
          restrictionHistory: await store.restrictionHistory(login),
        };
      });
      context.print(shown, (view) => [
        field('login', view.login),
        field('state', view.disabled ? 'disabled' : 'enabled'),
        ...restrictionLines(view.restriction, view.restrictionHistory),
        field('password scheme', describeScheme(view.passwordScheme)),
        field('created', view.createdAt),
        field('updated', view.updatedAt),
        field('sends as', `${view.login}  (login)`),
        ...view.senders.map((entry) => field('', describeSender(entry))),
        ...settingsLines(view.settings).filter((line) => !line.startsWith('limits')),
        field('messages/minute', describeLimit(view.effectiveLimits.messagesPerMinute)),
        field('recipients/day', describeLimit(view.effectiveLimits.recipientsPerDay)),
        ...(view.reputation
          ? [field('relay-user id', view.reputation.userId ?? '(none yet: any relayctl user set gives one)'), ...REPUTATION_WINDOWS.map(({ name }) => field('reputation', describeWindow(name, view.reputation!.windows[name])))]
          : [field('reputation', '(give --reputation-table to see it)')]),
      ]);
    });

  user
    .command('set')
    .description("change a user's settings: SES configuration set, message tags, allowed client networks, limits")
    .argument('<address>', 'the login')
    .option('--configuration-set <name>', "SES configuration set for the user's mail (delivery events per team); one the stage defines (--stage)")
    .option('--no-configuration-set', 'send without a configuration set of the user (the relay default applies)')
    .option('--tag <name=value>', 'SES message tag on every message of the user (repeatable; adds to the tags there)', repeatable)
    .option('--clear-tags', 'remove all message tags (with --tag: replace them)')
    .option('--allow-network <cidr>', 'a client network the user may connect from, IPv4 or IPv6 (repeatable); none means anywhere', repeatable)
    .option('--clear-networks', 'allow every network again (with --allow-network: replace them)')
    .option('--messages-per-minute <n>', "most messages the user may send per minute; 0: no limit for this user")
    .option('--recipients-per-day <n>', "most recipients the user may send to per day; 0: no limit for this user")
    .option('--clear-limits', "remove both limits of the user, so the relay's defaults apply (with a limit option: replace them)")
    .addHelpText(
      'after',
      examples(
        'relayctl user set john@example.org --configuration-set sales-events --tag team=sales --tag env=prod',
        'relayctl user set john@example.org --allow-network 192.0.2.0/24 --allow-network 2001:db8::/32',
        'relayctl user set john@example.org --messages-per-minute 30 --recipients-per-day 2000',
        'relayctl user set newsletter@example.org --messages-per-minute 0',
        'relayctl user set john@example.org --no-configuration-set --clear-tags --clear-networks --clear-limits',
      ),
    )
    .action(async (address: string, options: SettingsOptions, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      // Validate before touching the store, so that a typo costs no round trip.
      changedSettings({}, options);
      if (typeof options.configurationSet === 'string') await requireStageConfigurationSet(options.configurationSet, context.stage);
      const settings = await context.withStore(async (store) => {
        const record = await store.getUser(login);
        if (!record) throw new CliError(ExitCode.notFound, `no user ${login}`);
        const next = changedSettings(record.settings, options);
        await refusedAs(store.updateUser(login, { settings: next }), ExitCode.notFound, `no user ${login}`);
        await announceChange(store, login, 'settings');
        return next;
      });
      context.print({ login, settings }, (view) => [`updated the settings of ${login}`, ...settingsLines(view.settings)]);
    });

  addRestrictionCommands(user);
  return user;
}

function summaryOf(record: UserRecord): UserSummary {
  const kind = classifyPasswordHash(record.passwordHash);
  return {
    login: record.login,
    disabled: record.disabled,
    passwordScheme: kind.verifiable ? kind.scheme : UNUSABLE_SCHEME,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.restriction ? { restriction: record.restriction } : {}),
  };
}

/** hashPassword refuses an empty or overlong password; the message names only the rule. */
async function hashOrRefuse(password: string): Promise<string> {
  // Loaded on use, like the store: `--help` and refused input need neither.
  const { hashPassword } = await import('../../lambda/password-hash.ts');
  try {
    return await hashPassword(password);
  } catch (error) {
    if (error instanceof RangeError) throw new CliError(ExitCode.invalidInput, error.message);
    throw error;
  }
}

function describeScheme(scheme: string): string {
  if (scheme === 'scrypt') return scheme;
  if (scheme === UNUSABLE_SCHEME) return `${scheme} (no hash the relay can verify: set a password with relayctl user passwd)`;
  return `${scheme} (legacy; replaced by scrypt at the next login)`;
}

/** One `label  value` line of human output, values aligned. */
function field(label: string, value: string): string {
  return `${label.padEnd(18)} ${value}`;
}

function restrictionLines(restriction: UserRestriction | undefined, history: readonly RestrictionHistoryEntry[]): string[] {
  const current = restriction
    ? `${restriction.state}${restriction.messagesPerMinute !== undefined ? ` (${restriction.messagesPerMinute} messages/minute)` : ''} since ${restriction.since} by ${restriction.by}: ${restriction.reason}`
    : '(none)';
  return [
    field('restriction', current),
    ...history.map((entry) => field('', `${entry.at}  ${entry.action} (${entry.state}) by ${entry.by}: ${entry.reason}`)),
  ];
}

function settingsLines(settings: UserSettings): string[] {
  const tags = Object.entries(settings.messageTags ?? {}).map(([name, value]) => `${name}=${value}`);
  const limits = [
    settings.limits?.messagesPerMinute !== undefined ? `${describeCount(settings.limits.messagesPerMinute)} messages/minute` : undefined,
    settings.limits?.recipientsPerDay !== undefined ? `${describeCount(settings.limits.recipientsPerDay)} recipients/day` : undefined,
  ].filter((text) => text !== undefined);
  return [
    field('configuration set', settings.configurationSet ?? '(none)'),
    field('message tags', tags.length > 0 ? tags.join(', ') : '(none)'),
    field('allowed networks', settings.allowedNetworks?.length ? settings.allowedNetworks.join(', ') : '(any)'),
    field('limits', limits.length > 0 ? limits.join(', ') : '(none)'),
  ];
}

/**
 * The limits that apply to a user: its own where it has one, else the relay's
 * default (DEFAULT_MESSAGES_PER_MINUTE, DEFAULT_RECIPIENTS_PER_DAY as
 * `relayctl config` reports them from this environment); a throttle (the
 * reputation guard's or an operator's) caps messages a minute whatever they say.
 */
function effectiveLimitsOf(record: UserRecord): { messagesPerMinute: EffectiveLimit; recipientsPerDay: EffectiveLimit } {
  const defaults = new Map(effectiveSettings(process.env).map((setting) => [setting.name, Number(setting.value ?? 0)]));
  const limitOf = (own: number | undefined, name: 'DEFAULT_MESSAGES_PER_MINUTE' | 'DEFAULT_RECIPIENTS_PER_DAY'): EffectiveLimit =>
    own !== undefined ? { value: own, source: 'own' } : { value: defaults.get(name) ?? 0, source: 'default' };
  const messagesPerMinute = limitOf(record.settings.limits?.messagesPerMinute, 'DEFAULT_MESSAGES_PER_MINUTE');
  const throttle = record.restriction?.state === 'throttled' ? record.restriction.messagesPerMinute : undefined;
  return {
    messagesPerMinute:
      throttle !== undefined && (messagesPerMinute.value === 0 || throttle < messagesPerMinute.value) ? { value: throttle, source: 'throttled' } : messagesPerMinute,
    recipientsPerDay: limitOf(record.settings.limits?.recipientsPerDay, 'DEFAULT_RECIPIENTS_PER_DAY'),
  };
}

function describeLimit(limit: EffectiveLimit): string {
  return `${describeCount(limit.value)}  (${limit.source})`;
}

function describeCount(limit: number): string {
  return limit === 0 ? 'unlimited' : String(limit);
}

/** A configuration set the stage's relay may not send with would fail every message of the user in AWS: refuse it now. */
async function requireStageConfigurationSet(name: string, stage: string | undefined): Promise<void> {
  const { configurationSetsOfStage } = await import('./deployment-stage.ts');
  const sets = await configurationSetsOfStage(stage);
  if (!sets.names.includes(name)) {
    throw new CliError(
      ExitCode.invalidInput,
      `configuration set "${name}" is not one stage ${sets.stage} defines (allowed: ${sets.names.join(', ')}); add it to additionalConfigurationSets of the stage in cdk.json and deploy, or give --stage`,
    );
  }
}

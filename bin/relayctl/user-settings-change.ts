import { RELAY_USER_TAG } from '../../lambda/policy-contract.ts';
import type { UserLimits, UserSettings } from '../../lambda/user-store.ts';
import { parseAllowedNetwork } from './allowed-network.ts';
import { CliError, ExitCode } from './cli-error.ts';

/** The options of `user set`, as commander hands them over. */
export interface SettingsOptions {
  /** A name, or false for `--no-configuration-set`. */
  readonly configurationSet?: string | false;
  readonly tag?: readonly string[];
  readonly clearTags?: boolean;
  readonly allowNetwork?: readonly string[];
  readonly clearNetworks?: boolean;
  readonly messagesPerMinute?: string;
  readonly recipientsPerDay?: string;
  readonly clearLimits?: boolean;
}

/** SES's rule for configuration set names (CreateConfigurationSet). */
const CONFIGURATION_SET_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** SES's rule for message tag names and values (MessageTag); a value may be empty. */
const TAG_NAME = /^[A-Za-z0-9_-]{1,256}$/;
const TAG_VALUE = /^[A-Za-z0-9_-]{0,256}$/;
/** A whole number; 0 is no limit for the user, whatever the relay's default. */
const LIMIT = /^(0|[1-9][0-9]{0,8})$/;

/**
 * The settings after a `user set`. Each `--clear-*` empties its part before
 * that part's new values apply, so `--clear-tags --tag team=a` replaces the
 * tags; without it new tags and networks add to the ones there. Everything is
 * validated before anything is written, so a bad value changes nothing.
 */
export function changedSettings(current: UserSettings, options: SettingsOptions): UserSettings {
  const invalid = (message: string) => new CliError(ExitCode.invalidInput, message);
  const changesSomething =
    options.configurationSet !== undefined ||
    [options.tag, options.allowNetwork].some((list) => list !== undefined && list.length > 0) ||
    [options.clearTags, options.clearNetworks, options.clearLimits].some((flag) => flag === true) ||
    options.messagesPerMinute !== undefined ||
    options.recipientsPerDay !== undefined;
  if (!changesSomething) throw invalid('nothing to change: give at least one option (see relayctl user set --help)');

  let configurationSet = current.configurationSet;
  if (options.configurationSet === false) configurationSet = undefined;
  else if (options.configurationSet !== undefined) {
    if (!CONFIGURATION_SET_NAME.test(options.configurationSet)) {
      throw invalid(`invalid configuration set "${options.configurationSet}": up to 64 of A-Z a-z 0-9 _ -`);
    }
    configurationSet = options.configurationSet;
  }

  const messageTags: Record<string, string> = { ...(options.clearTags ? {} : current.messageTags) };
  for (const text of options.tag ?? []) {
    const equals = text.indexOf('=');
    const [name, value] = equals < 0 ? [text, undefined] : [text.slice(0, equals), text.slice(equals + 1)];
    if (value === undefined || !TAG_NAME.test(name) || !TAG_VALUE.test(value)) {
      throw invalid(`invalid tag "${text}": give name=value, each up to 256 of A-Z a-z 0-9 _ - (SES's rule)`);
    }
    if (name === RELAY_USER_TAG) {
      throw invalid(`invalid tag "${text}": ${name} is the relay's own (it names the user in SES's events)`);
    }
    messageTags[name] = value;
  }

  const allowedNetworks = [...new Set([...(options.clearNetworks ? [] : (current.allowedNetworks ?? [])), ...(options.allowNetwork ?? []).map(parseAllowedNetwork)])];

  const limits: { -readonly [K in keyof UserLimits]: UserLimits[K] } = { ...(options.clearLimits ? {} : current.limits) };
  for (const [key, flag] of [['messagesPerMinute', '--messages-per-minute'], ['recipientsPerDay', '--recipients-per-day']] as const) {
    const text = options[key];
    if (text === undefined) continue;
    if (!LIMIT.test(text)) throw invalid(`invalid ${flag} "${text}": give a whole number from 0 (no limit) to 999999999`);
    limits[key] = Number(text);
  }

  return {
    ...(configurationSet ? { configurationSet } : {}),
    ...(Object.keys(messageTags).length > 0 ? { messageTags } : {}),
    ...(allowedNetworks.length > 0 ? { allowedNetworks } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

import { parseRelayEnv, relayEnvSchema, type RelayEnv } from '../../relay/relay-config.ts';
import { LOCAL_DEFAULTS } from '../../relay/local/local-defaults.ts';
import { CliError, ExitCode } from './cli-error.ts';

/** Where a setting's value comes from, in the order the first that has one wins. */
export type SettingSource = 'environment' | 'stage' | 'local default' | 'default';

export interface EffectiveSetting {
  readonly name: keyof RelayEnv;
  /** Absent: not set, and the relay runs without it. */
  readonly value?: string | number;
  readonly source: SettingSource | 'unset';
}

/**
 * Every setting of the relay's schema (relay/relay-config.ts: the one list the
 * relay itself parses), with the value the relay would run with and where it
 * came from: the environment, the stage (values the CDK stack gives the
 * container), `npm start`'s own defaults when no stage is given, or the
 * schema's default. Invalid values are refused as the relay refuses them.
 */
export function effectiveSettings(env: NodeJS.ProcessEnv, stage?: Readonly<Record<string, string>>): EffectiveSetting[] {
  const fallbacks: Record<string, string> = stage ? { ...stage } : { ...LOCAL_DEFAULTS };
  let parsed: RelayEnv;
  try {
    parsed = parseRelayEnv(env, fallbacks);
  } catch (error) {
    throw new CliError(ExitCode.invalidInput, (error as Error).message);
  }
  return (Object.keys(relayEnvSchema.shape) as Array<keyof RelayEnv>).map((name) => {
    const value = parsed[name];
    const source: EffectiveSetting['source'] =
      env[name] ? 'environment' : name in fallbacks ? (stage ? 'stage' : 'local default') : value === undefined ? 'unset' : 'default';
    return { name, source, ...(value === undefined ? {} : { value }) };
  });
}

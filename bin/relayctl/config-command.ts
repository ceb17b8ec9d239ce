import { Command } from 'commander';
import { contextOf } from './command-context.ts';
import { effectiveSettings, type EffectiveSetting } from './effective-settings.ts';
import { examples } from './help-text.ts';

/** `relayctl config`: what `postconf` is to Postfix, the relay's effective settings with where each comes from. */
export function configCommand(): Command {
  return new Command('config')
    .description('show every setting of the relay: its effective value and where it comes from (environment, local default, default)')
    .addHelpText(
      'after',
      `
The settings are the relay's own list (relay/relay-config.ts) read from this environment as
the relay reads it: a variable set here wins; else npm start's local default (listen address,
ports, host name, recipient-domain check); else the relay's default. The container in AWS gets
its values from the CDK stack (docs/deploying.md). A setting the relay would refuse is refused
here with the same message (exit 1).
` + examples('relayctl config', 'SUBMISSION_PORT=3587 relayctl config', "relayctl --json config | jq -r '.[] | select(.source == \"environment\") | .name'"),
    )
    .action((_options: object, command: Command) => {
      const context = contextOf(command);
      const settings = effectiveSettings(process.env);
      const width = Math.max(...settings.map((setting) => setting.name.length));
      context.print(settings, (list) => list.map((setting) => `${setting.name.padEnd(width)}  ${describeValue(setting).padEnd(12)}  (${setting.source})`));
    });
}

function describeValue(setting: EffectiveSetting): string {
  return setting.value === undefined ? '-' : String(setting.value);
}

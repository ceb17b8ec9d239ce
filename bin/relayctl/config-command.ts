import { Command } from 'commander';
import { contextOf } from './command-context.ts';
import { effectiveSettings, type EffectiveSetting } from './effective-settings.ts';
import { examples } from './help-text.ts';

/** `relayctl config`: what `postconf` is to Postfix, the relay's effective settings with where each comes from. */
export function configCommand(): Command {
  return new Command('config')
    .description('show every setting of the relay: its effective value and where it comes from (environment, local default, stage, default)')
    .addHelpText(
      'after',
      `
The settings are the relay's own list (relay/relay-config.ts). Without --stage: the local
relay (npm start) in this environment: a variable set here wins; else npm start's local
default (listen address, ports, host name, recipient-domain check); else the relay's default.
With --stage: the container of that stage in AWS, which gets the stage's values from the CDK
stack (cdk.json) and the relay's defaults for the rest; this shell's environment plays no
part. A setting the relay would refuse is refused here with the same message (exit 1).
` +
        examples(
          'relayctl config',
          'relayctl --stage prod config',
          'SUBMISSION_PORT=3587 relayctl config',
          "relayctl --json config | jq -r '.[] | select(.source == \"environment\") | .name'",
        ),
    )
    .action(async (_options: object, command: Command) => {
      const context = contextOf(command);
      const { stage } = context;
      const settings = stage
        ? effectiveSettings({}, (await (await import('./deployment-stage.ts')).relaySettingsOfStage(stage)).settings)
        : effectiveSettings(process.env);
      const width = Math.max(...settings.map((setting) => setting.name.length));
      context.print(settings, (list) => list.map((setting) => `${setting.name.padEnd(width)}  ${describeValue(setting).padEnd(12)}  (${setting.source})`));
    });
}

function describeValue(setting: EffectiveSetting): string {
  return setting.value === undefined ? '-' : String(setting.value);
}

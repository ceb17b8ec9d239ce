import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/project-root.ts';
import type { StageConfig } from '../../lib/stage-config.ts';
import { CliError, ExitCode } from './cli-error.ts';

/**
 * A stage of cdk.json, validated as `cdk synth` validates it: `stage` is
 * `--stage`, else the stage `cdk deploy` takes by default.
 */
async function stageConfig(stage: string | undefined): Promise<{ readonly stage: string; readonly config: StageConfig }> {
  // Loaded on use: the stage module brings aws-cdk-lib, and only stage questions need it.
  const { DEFAULT_STAGE, STAGES_CONTEXT_KEY, parseStageConfig } = await import('../../lib/stage-config.ts');
  const name = stage ?? DEFAULT_STAGE;
  const cdkJson = path.join(PROJECT_ROOT, 'cdk.json');
  let stages: Record<string, unknown>;
  try {
    stages = (JSON.parse(await readFile(cdkJson, 'utf8')) as { context?: Record<string, Record<string, unknown>> }).context?.[STAGES_CONTEXT_KEY] ?? {};
  } catch (error) {
    throw new CliError(ExitCode.invalidInput, `cannot read the stages from ${cdkJson}: ${(error as Error).message}`);
  }
  if (!(name in stages)) {
    throw new CliError(ExitCode.invalidInput, `unknown stage "${name}"; cdk.json defines: ${Object.keys(stages).join(', ') || 'none'}`);
  }
  try {
    return { stage: name, config: parseStageConfig(name, stages[name]) };
  } catch (error) {
    throw new CliError(ExitCode.invalidInput, (error as Error).message.replace(/\s*\n\s*/g, '; '));
  }
}

/**
 * The configuration sets the relay of a stage may send with: a user's
 * configuration set must be one of them, or SES refuses the user's mail (the
 * task may send with those only).
 */
export async function configurationSetsOfStage(stage: string | undefined): Promise<{ readonly stage: string; readonly names: readonly string[] }> {
  const { sendableConfigurationSets } = await import('../../lib/stage-config.ts');
  const resolved = await stageConfig(stage);
  return { stage: resolved.stage, names: sendableConfigurationSets(resolved.stage, resolved.config) };
}

/** The relay settings the CDK stack gives the container of a stage (lib/relay-container-settings.ts). */
export async function relaySettingsOfStage(stage: string | undefined): Promise<{ readonly stage: string; readonly settings: Readonly<Record<string, string>> }> {
  const { stageConfigurationSetName } = await import('../../lib/stage-config.ts');
  const { DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS, relayContainerSettings } = await import('../../lib/relay-container-settings.ts');
  const { stage: name, config } = await stageConfig(stage);
  return {
    stage: name,
    settings: relayContainerSettings({
      hostname: config.hostname,
      maxMessageBytes: config.maxMessageBytes,
      shutdownGraceSeconds: config.shutdownGraceSeconds,
      configurationSetName: stageConfigurationSetName(name),
      policyFunctionTimeoutSeconds: DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS,
    }),
  };
}

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/project-root.ts';
import { CliError, ExitCode } from './cli-error.ts';

/**
 * The configuration sets the relay of a stage may send with, from the stage
 * table in cdk.json that `cdk deploy` reads: a user's configuration set must be
 * one of them, or SES refuses the user's mail (the task may send with those
 * only). `stage` is `--stage`, else the stage `cdk deploy` takes by default.
 */
export async function configurationSetsOfStage(stage: string | undefined): Promise<{ readonly stage: string; readonly names: readonly string[] }> {
  // Loaded on use: the stage module brings aws-cdk-lib, and only this check needs it.
  const { DEFAULT_STAGE, STAGES_CONTEXT_KEY, parseStageConfig, sendableConfigurationSets } = await import('../../lib/stage-config.ts');
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
    return { stage: name, names: sendableConfigurationSets(name, parseStageConfig(name, stages[name])) };
  } catch (error) {
    throw new CliError(ExitCode.invalidInput, (error as Error).message);
  }
}

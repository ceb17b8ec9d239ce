import { type App, type Environment, Tags, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RelayDataStack } from './relay-data-stack.ts';
import { RelayStack } from './relay-stack.ts';
import { loadStageConfig, type StageConfig } from './stage-config.ts';

export interface BuildRelayAppOptions {
  /**
   * Entry file of the policy function.
   * @default - `lambda/handler.ts` of this repository
   */
  readonly policyFunctionEntry?: string;
  /**
   * Entry file of the reputation function.
   * @default - `lambda/reputation-function.ts` of this repository
   */
  readonly reputationFunctionEntry?: string;
  /**
   * The relay image; overrides the stage's `relayImage` context value.
   * @default - the stage's `relayImage` (an image by digest), else built from `relay/Dockerfile` (needs Docker)
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Run cdk-nag's AwsSolutions checks at synth (a finding fails the synth).
   * @default true
   */
  readonly nag?: boolean;
}

/** The stacks of one stage. */
export interface RelayApp {
  readonly stage: string;
  readonly config: StageConfig;
  readonly data: RelayDataStack;
  readonly service: RelayStack;
}

/**
 * Adds the stage named by `-c stage=...` (default dev) to the app: the data
 * stack `SubmissionRelay-<stage>-Data` and the service stack
 * `SubmissionRelay-<stage>-Service`, tagged, with cdk-nag's AwsSolutions checks
 * registered as a validation plugin. Stacks are environment-agnostic unless the
 * stage names an account or region, so synth needs no credentials and no lookups.
 */
export function buildRelayApp(app: App, options: BuildRelayAppOptions = {}): RelayApp {
  const { stage, config } = loadStageConfig(app.node);
  const env: Environment | undefined =
    config.account || config.region ? { account: config.account, region: config.region } : undefined;
  const tags = { Project: 'submission-relay', Stage: stage };

  const data = new RelayDataStack(app, `SubmissionRelay-${stage}-Data`, { env, tags, stage, config });
  const service = new RelayStack(app, `SubmissionRelay-${stage}-Service`, {
    env,
    tags,
    stage,
    config,
    state: data.state,
    ...(data.certificate ? { certificate: data.certificate } : {}),
    ...(options.policyFunctionEntry ? { policyFunctionEntry: options.policyFunctionEntry } : {}),
    ...(options.reputationFunctionEntry ? { reputationFunctionEntry: options.reputationFunctionEntry } : {}),
    ...(options.image ? { image: options.image } : {}),
  });
  for (const [key, value] of Object.entries(tags)) Tags.of(app).add(key, value);

  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { stage, config, data, service };
}

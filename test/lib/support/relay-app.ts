/**
 * Builds the relay app the way `bin/relay-app.ts` does, with the context of
 * the real `cdk.json` (stage table and feature flags), and synthesizes it once
 * per distinct setup so that test files can share the templates.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildRelayApp, type RelayApp } from '../../../lib/build-relay-app.ts';
import { STAGES_CONTEXT_KEY } from '../../../lib/stage-config.ts';

export const FIXTURE_HANDLER = new URL('../fixtures/policy-handler.ts', import.meta.url).pathname;

/** The context section of the repository's cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** The stage table of cdk.json. */
export function cdkJsonStages(): Record<string, Record<string, unknown>> {
  return cdkJsonContext()[STAGES_CONTEXT_KEY] as Record<string, Record<string, unknown>>;
}

export interface SynthOptions {
  /** Stage to build (`-c stage=`). */
  readonly stage: string;
  /** Settings merged over that stage's cdk.json entry (or the whole entry of a new stage). */
  readonly overrides?: Record<string, unknown>;
  /** Register cdk-nag (bin does). Off by default so that template tests report template problems only. */
  readonly nag?: boolean;
  /** Use the real `lambda/handler.ts` and `lambda/reputation-function.ts` instead of the fixture. */
  readonly realHandler?: boolean;
  /**
   * Run aws-cdk-lib's built-in CloudFormation template validation (as `cdk synth`
   * does). It costs over a second per synth, so only the tests about synth itself
   * turn it on.
   */
  readonly cfnValidation?: boolean;
}

export interface SynthesizedRelay {
  readonly app: App;
  readonly relay: RelayApp;
  readonly assembly: CloudAssembly;
  readonly data: Template;
  readonly service: Template;
}

/** Creates the app without synthesizing it. */
export function buildApp(options: SynthOptions): { app: App; relay: RelayApp } {
  const context = cdkJsonContext();
  const stages = { ...cdkJsonStages() };
  if (options.overrides) stages[options.stage] = { ...stages[options.stage], ...options.overrides };
  const app = new App({
    context: { ...context, [STAGES_CONTEXT_KEY]: stages, stage: options.stage },
    builtinCloudFormationValidation: options.cfnValidation ?? false,
  });
  const relay = buildRelayApp(app, {
    nag: options.nag ?? false,
    ...(options.realHandler ? {} : { policyFunctionEntry: FIXTURE_HANDLER, reputationFunctionEntry: FIXTURE_HANDLER }),
  });
  return { app, relay };
}

const cache = new Map<string, SynthesizedRelay>();

/** Builds and synthesizes (once per distinct options) and returns both stacks' templates. */
export function synthRelay(options: SynthOptions): SynthesizedRelay {
  const key = JSON.stringify(options);
  const cached = cache.get(key);
  if (cached) return cached;
  const { app, relay } = buildApp(options);
  const assembly = app.synth();
  const result: SynthesizedRelay = {
    app,
    relay,
    assembly,
    data: Template.fromJSON(assembly.getStackByName(relay.data.stackName).template as Record<string, unknown>),
    service: Template.fromJSON(assembly.getStackByName(relay.service.stackName).template as Record<string, unknown>),
  };
  cache.set(key, result);
  return result;
}

/** The single resource of a type whose logical id starts with the given prefix. */
export function resourceById(template: Template, type: string, idPrefix: string): { id: string; resource: any } {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(idPrefix));
  if (matches.length !== 1) {
    throw new Error(`expected one ${type} with id ${idPrefix}*, found ${matches.map(([id]) => id).join(', ') || 'none'}`);
  }
  const [id, resource] = matches[0]!;
  return { id, resource };
}

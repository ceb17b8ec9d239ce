/**
 * Per-stage settings of the relay deployment, read from `cdk.json` context
 * (`submission-relay:stages`) and validated before any construct is built, so
 * that a typo fails `cdk synth` with the field's name instead of deploying a
 * half-configured relay.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { z } from 'zod';

/** Context key holding the stage table in `cdk.json`. */
export const STAGES_CONTEXT_KEY = 'submission-relay:stages';
/** Context key naming the stage to synthesize (`-c stage=prod`). */
export const STAGE_CONTEXT_KEY = 'stage';
/** Stage used when `-c stage=...` is not given: the cheap, disposable one. */
export const DEFAULT_STAGE = 'dev';

const RETENTION_DAYS: readonly number[] = Object.values(RetentionDays).filter(
  (value): value is number => typeof value === 'number',
);

/** Fargate's valid memory sizes (MiB) for each task CPU size (units). */
const FARGATE_MEMORY_MIB: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: Array.from({ length: 13 }, (_, i) => 4096 + i * 1024),
  4096: Array.from({ length: 23 }, (_, i) => 8192 + i * 1024),
};

const dnsName = z
  .string()
  .regex(
    /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'must be a lower-case fully qualified domain name',
  );

const hostedZone = z
  .object({
    hostedZoneId: z.string().regex(/^Z[A-Z0-9]{4,32}$/, 'must be a Route 53 hosted zone id'),
    zoneName: dnsName,
  })
  .strict();

const sendingIdentity = z
  .object({
    domain: dnsName,
    hostedZone: hostedZone.optional(),
    mailFromSubdomain: z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a single DNS label')
      .optional(),
  })
  .strict()
  .refine((identity) => !identity.hostedZone || isWithinZone(identity.domain, identity.hostedZone.zoneName), {
    message: 'hostedZone must be the zone of domain or of one of its parents',
  });

const stageConfigSchema = z
  .object({
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id').optional(),
    region: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d$/, 'must be a region name').optional(),
    hostname: dnsName,
    hostnameZone: hostedZone.optional(),
    sendingIdentities: z.array(sendingIdentity).min(1),
    additionalConfigurationSets: z
      .array(z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be an SES configuration set name'))
      .optional(),
    desiredCount: z.number().int().min(1).max(50),
    maxCount: z.number().int().min(1).max(100),
    taskCpu: z.number().int(),
    taskMemoryMiB: z.number().int(),
    // The relay caps it at SES v2's 40 MB less room for its trace header.
    maxMessageBytes: z.number().int().min(1024 * 1024).max(39_999_000),
    shutdownGraceSeconds: z.number().int().min(5).max(110),
    logRetentionDays: z.number().int().refine((days) => RETENTION_DAYS.includes(days), {
      message: `must be one of ${RETENTION_DAYS.join(', ')}`,
    }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']),
    pointInTimeRecovery: z.boolean(),
    retainData: z.boolean(),
    containerInsights: z.boolean(),
    alarmEmail: z.email().optional(),
    policyReservedConcurrency: z.number().int().min(1).optional(),
    connectionsPerTask: z.number().int().min(1),
    authFailureAlarmThreshold: z.number().int().min(1),
  })
  .strict()
  .refine((c) => c.maxCount >= c.desiredCount, { message: 'maxCount must be at least desiredCount', path: ['maxCount'] })
  .refine((c) => FARGATE_MEMORY_MIB[c.taskCpu]?.includes(c.taskMemoryMiB) ?? false, {
    message: 'taskCpu/taskMemoryMiB must be a Fargate task size (e.g. 256/512, 512/1024, 1024/2048)',
    path: ['taskMemoryMiB'],
  })
  .refine((c) => !c.hostnameZone || isWithinZone(c.hostname, c.hostnameZone.zoneName), {
    message: 'hostnameZone must be the zone of hostname or of one of its parents',
    path: ['hostnameZone'],
  });

/**
 * A stage that cannot be synthesized as configured: each line names the stage
 * setting and what is wrong with it, or the stages there are.
 */
export class StageConfigError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'StageConfigError';
  }
}

/** Settings of one stage (dev, prod, ...), as written in `cdk.json`. */
export type StageConfig = z.infer<typeof stageConfigSchema>;
/** A Route 53 public hosted zone, given by id and name so that no lookup is needed at synth. */
export type HostedZoneConfig = z.infer<typeof hostedZone>;
/** One sending domain as written in `cdk.json`. */
export type SendingIdentityConfig = z.infer<typeof sendingIdentity>;

/** The stage name and its validated settings. */
export interface ResolvedStage {
  readonly stage: string;
  readonly config: StageConfig;
}

/**
 * Reads `-c stage=...` (default `dev`) and that stage's settings from the
 * construct tree's context. Throws with every problem found, field by field.
 */
export function loadStageConfig(node: Node): ResolvedStage {
  const stage = String(node.tryGetContext(STAGE_CONTEXT_KEY) ?? DEFAULT_STAGE);
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(stage)) {
    throw new StageConfigError([`stage "${stage}" must be 1-16 lower-case letters, digits or dashes (-c stage=NAME)`]);
  }
  const stages: unknown = node.tryGetContext(STAGES_CONTEXT_KEY);
  if (typeof stages !== 'object' || stages === null) {
    throw new StageConfigError([`context "${STAGES_CONTEXT_KEY}" is missing: it belongs in cdk.json`]);
  }
  const raw = (stages as Record<string, unknown>)[stage];
  if (raw === undefined) {
    throw new StageConfigError([`unknown stage "${stage}"; cdk.json defines: ${Object.keys(stages).join(', ')} (pick one with -c stage=NAME)`]);
  }
  return { stage, config: parseStageConfig(stage, raw) };
}

/** Validates one stage's settings; exported for tests and for apps that keep their settings elsewhere. */
export function parseStageConfig(stage: string, raw: unknown): StageConfig {
  const result = stageConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new StageConfigError(
      result.error.issues.map((issue) => `stage "${stage}", ${issue.path.length ? issue.path.join('.') : 'settings'}: ${issue.message}`),
    );
  }
  return result.data;
}

function isWithinZone(name: string, zoneName: string): boolean {
  return name === zoneName || name.endsWith(`.${zoneName}`);
}

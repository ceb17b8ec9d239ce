import { readFileSync } from 'node:fs';
import { STAGES_CONTEXT_KEY } from '../../lib/stage-config.ts';

/** Placeholders the committed snapshot is made with; a real run gives its own through the environment. */
export const INTEG_PLACEHOLDERS = {
  RELAY_INTEG_ZONE_ID: 'Z0000000000000000INTEG',
  RELAY_INTEG_ZONE_NAME: 'integ.example.com',
  RELAY_INTEG_IMAGE: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/submission-relay@sha256:${'0'.repeat(64)}`,
} as const;

/**
 * The app context of the integ test: cdk.json's feature flags and stages, plus
 * a throwaway stage `integ` (nothing retained, one task, ACM certificate
 * validated in the given zone, prebuilt image).
 */
export function integContext(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const setting = (name: keyof typeof INTEG_PLACEHOLDERS): string => env[name] || INTEG_PLACEHOLDERS[name];
  const zone = { hostedZoneId: setting('RELAY_INTEG_ZONE_ID'), zoneName: setting('RELAY_INTEG_ZONE_NAME') };
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };
  const stages = cdkJson.context[STAGES_CONTEXT_KEY] as Record<string, Record<string, unknown>>;
  return {
    ...cdkJson.context,
    stage: 'integ',
    [STAGES_CONTEXT_KEY]: {
      ...stages,
      integ: {
        ...stages.dev,
        hostname: `relay-integ.${zone.zoneName}`,
        hostnameZone: zone,
        sendingIdentities: [{ domain: zone.zoneName, hostedZone: zone }],
        relayImage: setting('RELAY_INTEG_IMAGE'),
        certificate: 'acm-export',
        desiredCount: 1,
        maxCount: 1,
        logRetentionDays: 1,
        retainData: false,
        sesSandbox: true,
      },
    },
  };
}

import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { RelayState } from './relay-state.ts';
import type { StageConfig } from './stage-config.ts';

export interface RelayDataStackProps extends StackProps {
  /** Stage name. */
  readonly stage: string;
  /** The stage's validated settings. */
  readonly config: StageConfig;
}

/**
 * The stateful stack: tables, SES identities and configuration set, TLS
 * certificate secret (`RelayState`). With `retainData` (prod) its resources are
 * retained and protected and the stack itself has termination protection, so
 * neither a service redeploy nor a `cdk destroy` can remove users or a verified
 * domain. Deploy it first; the service stack reads from it.
 */
export class RelayDataStack extends Stack {
  readonly state: RelayState;

  constructor(scope: Construct, id: string, props: RelayDataStackProps) {
    super(scope, id, {
      description: `Submission relay (${props.stage}): users and counters tables, SES identities, TLS certificate secret`,
      terminationProtection: props.config.retainData,
      ...props,
    });
    const { config } = props;

    this.state = new RelayState(this, 'State', {
      stage: props.stage,
      retain: config.retainData,
      pointInTimeRecovery: config.pointInTimeRecovery,
      ...(config.additionalConfigurationSets ? { additionalConfigurationSetNames: config.additionalConfigurationSets } : {}),
      sendingIdentities: config.sendingIdentities.map((identity, index) => ({
        domain: identity.domain,
        mailFromSubdomain: identity.mailFromSubdomain,
        hostedZone: identity.hostedZone
          ? route53.PublicHostedZone.fromPublicHostedZoneAttributes(this, `SendingZone${index}`, identity.hostedZone)
          : undefined,
      })),
    });

    new CfnOutput(this, 'UsersTableName', {
      description: 'Users table: relayctl --table <this>',
      value: this.state.tables.usersTable.tableName,
    });
    new CfnOutput(this, 'CountersTableName', {
      description: 'Per-user rate counters',
      value: this.state.tables.countersTable.tableName,
    });
    new CfnOutput(this, 'ReputationTableName', {
      description: 'Per-user reputation: relayctl --reputation-table <this>',
      value: this.state.reputation.table.tableName,
    });
    new CfnOutput(this, 'CertificateSecretName', {
      description: 'Put the TLS certificate here (JSON {"certificate","privateKey"})',
      value: this.state.certificateSecret.secretName,
    });
    new CfnOutput(this, 'ConfigurationSetName', {
      description: 'SES configuration set the relay sends with',
      value: this.state.sending.configurationSetName,
    });
  }
}

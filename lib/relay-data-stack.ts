import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { RelayCertificate } from './relay-certificate.ts';
import { RelayState } from './relay-state.ts';
import { stackOutput as output } from './stack-output.ts';
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
  /** The ACM certificate and its export into the secret, when the stage's certificate is `acm-export`. */
  readonly certificate?: RelayCertificate;

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

    if (config.certificate === 'acm-export') {
      this.certificate = new RelayCertificate(this, 'Certificate', {
        hostname: config.hostname,
        secret: this.state.certificateSecret,
        // Kept once issued; a failed first deploy still removes it on rollback.
        removalPolicy: config.retainData ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY,
        logRetention: config.logRetentionDays as RetentionDays,
        logRemovalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        ...(config.hostnameZone
          ? { validationZone: route53.PublicHostedZone.fromPublicHostedZoneAttributes(this, 'HostnameZone', config.hostnameZone) }
          : {}),
      });
      output(this, 'CertificateArn', 'ACM certificate of the relay (renewed by ACM, exported into the secret)', this.certificate.certificate.certificateArn);
      output(this, 'CertificateExportFunctionName', 'Exports the ACM certificate into the secret; safe to invoke by hand', this.certificate.exporter.function.functionName);
    }

    output(this, 'UsersTableName', 'Users table: relayctl --table <this>', this.state.tables.usersTable.tableName);
    output(this, 'CountersTableName', 'Per-user rate counters', this.state.tables.countersTable.tableName);
    output(this, 'ReputationTableName', 'Per-user reputation: relayctl --reputation-table <this>', this.state.reputation.table.tableName);
    output(this, 'CertificateSecretName', 'Put the TLS certificate here (JSON {"certificate","privateKey"})', this.state.certificateSecret.secretName);
    output(this, 'ConfigurationSetName', 'SES configuration set the relay sends with', this.state.sending.configurationSetName);
  }
}

import { RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { RelayTables } from './relay-tables.ts';
import { ReputationTable } from './reputation-table.ts';
import { SendingIdentities, type SendingIdentitySpec } from './sending-identities.ts';
import { stageConfigurationSetName } from './stage-config.ts';

export interface RelayStateProps {
  /** Stage name; part of the configuration set and secret names. */
  readonly stage: string;
  /** Domains the relay sends from. */
  readonly sendingIdentities: readonly SendingIdentitySpec[];
  /**
   * Configuration sets made elsewhere that users may be given (`relayctl user set --configuration-set`).
   * @default - none
   */
  readonly additionalConfigurationSetNames?: readonly string[];
  /**
   * Keep tables, identities, configuration set and certificate secret when they
   * would be deleted, and turn on deletion protection where the service has it.
   * @default true
   */
  readonly retain?: boolean;
  /**
   * Point-in-time recovery on the tables.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
}

/**
 * Everything of the relay that holds state or reputation and must outlive a
 * redeploy of the service: the users and counters tables, the SES identities and
 * configuration set, and the TLS certificate secret. Kept apart from
 * `SubmissionRelay` so that replacing the service can never replace these.
 */
export class RelayState extends Construct {
  readonly tables: RelayTables;
  /** Per-user reputation (SES event counts, steps, message trails). */
  readonly reputation: ReputationTable;
  readonly sending: SendingIdentities;
  /**
   * The relay's TLS certificate: a JSON secret `{"certificate": "<PEM chain>",
   * "privateKey": "<PEM key>"}`. Created empty; filled by `RelayCertificate`'s
   * export (ACM renews) or by the operator with `aws secretsmanager put-secret-value`
   * (docs/deploying.md). Running tasks read it again every few minutes.
   */
  readonly certificateSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: RelayStateProps) {
    super(scope, id);
    const retain = props.retain ?? true;

    this.tables = new RelayTables(this, 'Tables', {
      retain,
      pointInTimeRecovery: props.pointInTimeRecovery ?? true,
    });

    this.reputation = new ReputationTable(this, 'Reputation', {
      retain,
      pointInTimeRecovery: props.pointInTimeRecovery ?? true,
    });

    this.sending = new SendingIdentities(this, 'Sending', {
      identities: props.sendingIdentities,
      configurationSetName: stageConfigurationSetName(props.stage),
      ...(props.additionalConfigurationSetNames ? { additionalConfigurationSetNames: props.additionalConfigurationSetNames } : {}),
      retain,
    });

    this.certificateSecret = new secretsmanager.Secret(this, 'TlsCertificate', {
      secretName: `submission-relay/${props.stage}/tls-certificate`,
      description:
        'TLS certificate of the submission relay: JSON {"certificate": PEM chain, "privateKey": PEM key}. Written by the ACM export function or the operator; read by the relay tasks, again every few minutes.',
      // Empty PEMs, not secret: the relay refuses to start until the operator puts a certificate in.
      secretObjectValue: {
        certificate: SecretValue.unsafePlainText(''),
        privateKey: SecretValue.unsafePlainText(''),
      },
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    Validations.of(this.certificateSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The secret is a copy of a certificate whose renewal happens elsewhere: ACM renews the exportable certificate and the export function rewrites the secret on ACM\'s renewal event (or the operator writes a certificate of their own). A rotation function cannot make a CA issue a certificate; docs/deploying.md describes the renewal and how running tasks pick it up.',
    });
  }
}

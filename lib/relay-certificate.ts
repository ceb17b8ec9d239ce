import * as path from 'node:path';
import { Annotations, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as route53 from 'aws-cdk-lib/aws-route53';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from './project-root.ts';
import { RelayFunction } from './relay-function.ts';

/** ACM's EventBridge events that mean "there may be a new certificate to export". */
export const ACM_RENEWAL_EVENTS = ['ACM Certificate Available', 'ACM Certificate Approaching Expiration'] as const;

export interface RelayCertificateProps {
  /** The relay's host name: the certificate's only name. */
  readonly hostname: string;
  /** The secret the relay reads (JSON `certificate`, `privateKey`); this construct writes it. */
  readonly secret: secretsmanager.ISecret;
  /**
   * Public hosted zone of `hostname`: ACM's DNS validation record is created in it.
   * @default - the deploy waits until the operator publishes the validation CNAME ACM asks for
   */
  readonly validationZone?: route53.IHostedZone;
  /** Keep the certificate when it would be deleted. */
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention?: logs.RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The relay's certificate, renewed inside AWS with no machine of the
 * operator's: an ACM public certificate with export enabled (ACM renews it
 * by itself while the DNS validation record stays), and a function that
 * exports it into the relay's secret, where running tasks pick it up within
 * CERT_RELOAD_SECONDS.
 *
 * The function runs
 * - once at deploy, after the certificate is issued (a CloudFormation trigger:
 *   the deploy fails if the export does), so the secret is full before the
 *   service stack starts a task;
 * - on ACM's "Certificate Available" event (renewal done) and its daily
 *   "Approaching Expiration" events for this certificate;
 * - daily on a schedule, since EventBridge delivers ACM events on a best-effort basis.
 * It writes only when the certificate differs from the one in the secret.
 */
export class RelayCertificate extends Construct {
  static readonly EXPORT_TIMEOUT = Duration.seconds(60);
  readonly certificate: acm.Certificate;
  readonly exporter: RelayFunction;

  constructor(scope: Construct, id: string, props: RelayCertificateProps) {
    super(scope, id);
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: props.hostname,
      validation: acm.CertificateValidation.fromDns(props.validationZone),
      allowExport: true,
      // RSA 2048 keeps old devices (printers, scanners) able to connect.
      keyAlgorithm: acm.KeyAlgorithm.RSA_2048,
    });
    this.certificate.applyRemovalPolicy(props.removalPolicy);

    this.exporter = new RelayFunction(this, 'Export', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'certificate', 'handler.ts'),
      description: 'Submission relay: exports the renewed ACM certificate into the relay\'s certificate secret.',
      timeout: RelayCertificate.EXPORT_TIMEOUT,
      environment: { CERTIFICATE_ARN: this.certificate.certificateArn, SECRET_ID: props.secret.secretArn },
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.logRemovalPolicy ? { logRemovalPolicy: props.logRemovalPolicy } : {}),
    });
    this.exporter.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['acm:ExportCertificate'], resources: [this.certificate.certificateArn] }),
    );
    this.exporter.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        resources: [props.secret.secretArn],
      }),
    );

    const target = new targets.LambdaFunction(this.exporter.function, { retryAttempts: 4, maxEventAge: Duration.hours(12) });
    new events.Rule(this, 'RenewalRule', {
      description: `Export the renewed certificate of ${props.hostname} into the relay's secret`,
      eventPattern: {
        source: ['aws.acm'],
        detailType: [...ACM_RENEWAL_EVENTS],
        resources: [this.certificate.certificateArn],
      },
      targets: [target],
    });
    new events.Rule(this, 'DailyRule', {
      description: `Daily check that the relay's secret holds the current certificate of ${props.hostname}`,
      schedule: events.Schedule.rate(Duration.days(1)),
      targets: [target],
    });

    const firstExport = new triggers.Trigger(this, 'FirstExport', {
      handler: this.exporter.function,
      executeAfter: [this.certificate],
      executeOnHandlerChange: true,
      timeout: Duration.minutes(2),
    });
    // The role's policy must exist before the trigger runs the function.
    firstExport.node.addDependency(this.exporter.role);
    Annotations.of(this.exporter.function).acknowledgeWarning(
      '@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias',
      'The trigger invokes the version it publishes with its own permission; EventBridge invokes the unqualified function, which is what its permission names.',
    );
  }
}

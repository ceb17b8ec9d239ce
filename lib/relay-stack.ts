import { Aws, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { RelayCertificate } from './relay-certificate.ts';
import type { RelayState } from './relay-state.ts';
import { stackOutput } from './stack-output.ts';
import type { StageConfig } from './stage-config.ts';
import { ReputationGuard } from './reputation-guard.ts';
import { SubmissionRelay } from './submission-relay.ts';

export interface RelayStackProps extends StackProps {
  /** Stage name. */
  readonly stage: string;
  /** The stage's validated settings. */
  readonly config: StageConfig;
  /** Tables, identities and certificate from the data stack. */
  readonly state: RelayState;
  /**
   * The data stack's ACM certificate export, whose failures this stack alarms on.
   * @default - none (the operator writes the certificate)
   */
  readonly certificate?: RelayCertificate;
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
   * The relay image; overrides the stage's `relayImage`.
   * @default - the stage's `relayImage`, else built from `relay/Dockerfile`
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * The prebuilt image a stage names by digest, or undefined to build it from
 * the Dockerfile. An ECR image is taken through its repository, so that the
 * execution role may pull it (that repository only); any other registry must
 * be public.
 */
export function stageImage(scope: Construct, config: StageConfig): ecs.ContainerImage | undefined {
  if (!config.relayImage) return undefined;
  const ecrImage = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^@]+)@(sha256:[0-9a-f]{64})$/.exec(config.relayImage);
  if (!ecrImage) return ecs.ContainerImage.fromRegistry(config.relayImage);
  const [, account, region, repositoryName, digest] = ecrImage as unknown as [string, string, string, string, string];
  const repository = ecr.Repository.fromRepositoryAttributes(scope, 'RelayImageRepository', {
    repositoryName,
    repositoryArn: Stack.of(scope).formatArn({ service: 'ecr', account, region, resource: 'repository', resourceName: repositoryName }),
  });
  return ecs.ContainerImage.fromEcrRepository(repository, digest);
}

/**
 * The service stack of one stage: the `SubmissionRelay` construct configured
 * from `cdk.json`, and where its alarms go: its own SNS topic (with an e-mail
 * subscription when the stage names an address) or an existing topic
 * (`alarmTopicArn`). Everything here can be replaced without losing data; a
 * stage that retains data gets termination protection on this stack too,
 * which guards the load balancer's DNS name without blocking a rollback.
 */
export class RelayStack extends Stack {
  readonly relay: SubmissionRelay;
  readonly alarmTopic: sns.ITopic;
  readonly reputation: ReputationGuard;

  constructor(scope: Construct, id: string, props: RelayStackProps) {
    super(scope, id, {
      description: `Submission relay (${props.stage}): NLB, Fargate service, policy function, alarms`,
      terminationProtection: props.config.retainData,
      ...props,
    });
    const { config } = props;
    const alarmNamePrefix = `SubmissionRelay-${props.stage}-`;

    if (config.alarmTopicArn) {
      // The topic's owner must let CloudWatch publish to it (docs/deploying.md shows the policy).
      this.alarmTopic = sns.Topic.fromTopicArn(this, 'Alarms', config.alarmTopicArn);
    } else {
      const topic = new sns.Topic(this, 'Alarms', {
        displayName: `Submission relay ${props.stage} alarms`,
        enforceSSL: true,
      });
      // A topic policy replaces SNS's default one: without this statement CloudWatch may not publish.
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsOfThisStage',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
            ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${alarmNamePrefix}*` },
          },
        }),
      );
      if (config.alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason:
          'The topic carries CloudWatch alarm state changes only (alarm names, thresholds, metric values), no mail or user data. CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would add cost and a key policy for no confidentiality gain.',
      });
      this.alarmTopic = topic;
    }

    const image = props.image ?? stageImage(this, config);
    this.relay = new SubmissionRelay(this, 'Relay', {
      stage: props.stage,
      hostname: config.hostname,
      certificateSecret: props.state.certificateSecret,
      tables: props.state.tables,
      sendingIdentities: props.state.sending,
      maxMessageBytes: config.maxMessageBytes,
      desiredCount: config.desiredCount,
      maxCount: config.maxCount,
      taskCpu: config.taskCpu,
      taskMemoryMiB: config.taskMemoryMiB,
      logRetention: config.logRetentionDays as logs.RetentionDays,
      retain: config.retainData,
      alarmTopic: this.alarmTopic,
      shutdownGraceSeconds: config.shutdownGraceSeconds,
      logLevel: config.logLevel,
      containerInsights: config.containerInsights,
      connectionsPerTask: config.connectionsPerTask,
      authFailureAlarmThreshold: config.authFailureAlarmThreshold,
      ...(config.policyReservedConcurrency ? { policyReservedConcurrency: config.policyReservedConcurrency } : {}),
      ...(config.sesSandbox ? { sesSandbox: true } : {}),
      ...(props.certificate
        ? { certificateExport: { function: props.certificate.exporter.function, timeout: RelayCertificate.EXPORT_TIMEOUT } }
        : {}),
      ...(config.hostnameZone
        ? {
            hostnameZone: route53.PublicHostedZone.fromPublicHostedZoneAttributes(
              this,
              'HostnameZone',
              config.hostnameZone,
            ),
          }
        : {}),
      ...(props.policyFunctionEntry ? { policyFunctionEntry: props.policyFunctionEntry } : {}),
      ...(image ? { image } : {}),
    });

    const { messageTtlDays, ...thresholds } = config.reputation ?? {};
    this.reputation = new ReputationGuard(this, 'Reputation', {
      stage: props.stage,
      reputationTable: props.state.reputation.table,
      grantReputationWrite: (grantee) => props.state.reputation.grantReputationWrite(grantee),
      usersTable: props.state.tables.usersTable,
      configurationSetNames: props.state.sending.sendableConfigurationSetNames,
      ...(Object.keys(thresholds).length ? { thresholds } : {}),
      ...(messageTtlDays ? { messageTtlDays } : {}),
      ...(props.reputationFunctionEntry ? { entry: props.reputationFunctionEntry } : {}),
      alarmTopic: this.alarmTopic,
      logRetention: config.logRetentionDays as logs.RetentionDays,
      logRemovalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.relay.monitoring.watchDeadLetterQueue('reputation', this.reputation.deadLetterQueue);
    this.relay.monitoring.watchFunction('reputation', this.reputation.function, ReputationGuard.TIMEOUT);
    stackOutput(this, 'AlarmTopicArn', 'SNS topic the alarms notify', this.alarmTopic.topicArn);
  }
}

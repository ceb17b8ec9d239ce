import * as path from 'node:path';
import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ses from 'aws-cdk-lib/aws-ses';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENTBRIDGE_DETAIL_TYPES, REPUTATION_EVENT_TYPES } from '../lambda/ses-event.ts';
import { PROJECT_ROOT } from './project-root.ts';
import { RELAY_FUNCTION_DEFAULTS } from './relay-function.ts';

/** SES event types the reputation destination publishes (CloudFormation's names). */
export const REPUTATION_SES_EVENTS = [
  ses.EmailSendingEvent.SEND,
  ses.EmailSendingEvent.DELIVERY,
  ses.EmailSendingEvent.BOUNCE,
  ses.EmailSendingEvent.COMPLAINT,
  ses.EmailSendingEvent.REJECT,
  ses.EmailSendingEvent.DELIVERY_DELAY,
] as const;

/** Metric the reputation function writes (EMF) for each step a user reaches, dimensions [Stage] and [Stage, Step]. */
export const REPUTATION_STEPS_METRIC = 'ReputationSteps';

/** Name of the reputation event destination on each configuration set. */
export const REPUTATION_EVENT_DESTINATION = 'reputation';

export interface ReputationGuardProps {
  /** Stage; part of alarm names and the `Stage` metric dimension. */
  readonly stage: string;
  /** The reputation table (see `ReputationTable`). */
  readonly reputationTable: dynamodb.ITable;
  /** Grants the function its access to the reputation table. */
  readonly grantReputationWrite: (grantee: iam.IGrantable) => iam.Grant;
  /** The users table: the function reads users and writes their restriction. */
  readonly usersTable: dynamodb.ITable;
  /** Every configuration set the relay may send with: each gets the EventBridge destination. */
  readonly configurationSetNames: readonly string[];
  /**
   * The stage's thresholds as `REPUTATION_THRESHOLDS` JSON (see lambda/reputation-policy.ts).
   * @default - the function's defaults (bounce 2/3/4 %, complaint 0.04/0.06/0.08 %, 100 recipients)
   */
  readonly thresholds?: Record<string, unknown>;
  /**
   * Days a message's event trail is kept.
   * @default 14
   */
  readonly messageTtlDays?: number;
  /**
   * Entry file of the function (export `handler`).
   * @default `lambda/reputation-function.ts` of this repository
   */
  readonly entry?: string;
  /**
   * CloudWatch namespace of the relay's metrics.
   * @default 'SubmissionRelay'
   */
  readonly metricsNamespace?: string;
  /**
   * Where the reputation-step alarm goes.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
  /** @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The per-user reputation guard: an EventBridge event destination on each
 * configuration set (send, delivery, bounce, complaint, reject, delivery
 * delay), a rule on the default bus for those SES events, and the reputation
 * function (Node 22, ARM64) that counts them per user and restricts users
 * whose rates endanger the account. Events the function cannot take after
 * EventBridge's and Lambda's retries land in an SQS dead-letter queue, with an
 * alarm on it.
 *
 * Why EventBridge and not SNS: SES publishes to the default bus with no topic,
 * subscription or topic policy to keep; the rule filters on the configuration
 * sets before anything is invoked; the rule target has its own retry policy
 * and DLQ; and the event's `detail` is SES's record itself (SNS would wrap it
 * in a string to parse). docs/reputation.md has the comparison and the cost.
 *
 * Permissions: its own role, no managed policies: its log group; the
 * reputation table (no Scan); in the users table GetItem on `USER#` and
 * `USERID#` items, and what `UserStore.restrictUser` writes, each by its
 * partition and attributes: a user's `restriction`, a restriction-history
 * item, the change feed's head and item; SendMessage to its DLQ. DynamoDB
 * cannot limit a sort key in IAM, so a history PutItem could be aimed at a
 * user's PROFILE item and replace it with one that has no password: a denial
 * of service at worst, never a login or a grant.
 */
export class ReputationGuard extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly deadLetterQueue: sqs.Queue;
  readonly rule: events.Rule;
  readonly stepsAlarm: cloudwatch.Alarm;
  /** The function's timeout; EventBridge retries and the DLQ take over past it. */
  static readonly TIMEOUT = Duration.seconds(30);

  constructor(scope: Construct, id: string, props: ReputationGuardProps) {
    super(scope, id);
    const prefix = `SubmissionRelay-${props.stage}`;
    const defaultBusArn = `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/default`;

    props.configurationSetNames.forEach((name, index) => {
      new ses.CfnConfigurationSetEventDestination(this, `EventDestination${index}`, {
        configurationSetName: name,
        eventDestination: {
          name: REPUTATION_EVENT_DESTINATION,
          enabled: true,
          matchingEventTypes: [...REPUTATION_SES_EVENTS],
          eventBridgeDestination: { eventBusArn: defaultBusArn },
        },
      });
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the reputation function and of its EventBridge rule target (cdk-nag sees only queues named as another queue\'s DLQ); its messages wait for an operator, alarmed on, and a DLQ of a DLQ would hold nothing.',
    });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Reputation function of the submission relay: its table, users\' restrictions, its logs and DLQ.',
    });
    logGroup.grantWrite(this.role);
    props.grantReputationWrite(this.role);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [props.usersTable.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['USER#*', 'USERID#*'] } },
      }),
    );
    // UserStore.restrictUser: the restriction on the user item, an entry of the
    // user's restriction history, and the change-feed announcement (head, then item).
    const usersWrite = (action: string, leadingKey: string, attributes: readonly string[]) =>
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [action],
          resources: [props.usersTable.tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKey] },
            'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', ...attributes] },
            StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_OLD', 'UPDATED_NEW'] },
          },
        }),
      );
    usersWrite('dynamodb:UpdateItem', 'USER#*', ['restriction', 'updatedAt']);
    usersWrite('dynamodb:PutItem', 'USER#*', ['login', 'action', 'state', 'reason', 'by', 'at']);
    usersWrite('dynamodb:UpdateItem', 'CHANGE', ['epoch']);
    usersWrite('dynamodb:PutItem', 'CHANGE', ['epoch', 'login', 'kind', 'at', 'expiresAt']);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry ?? path.join(PROJECT_ROOT, 'lambda', 'reputation-function.ts'),
      handler: 'handler',
      ...RELAY_FUNCTION_DEFAULTS,
      memorySize: 256,
      timeout: ReputationGuard.TIMEOUT,
      role: this.role,
      logGroup,
      deadLetterQueueEnabled: true,
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
      environment: {
        USERS_TABLE: props.usersTable.tableName,
        REPUTATION_TABLE: props.reputationTable.tableName,
        ...(props.thresholds ? { REPUTATION_THRESHOLDS: JSON.stringify(props.thresholds) } : {}),
        MESSAGE_TTL_DAYS: String(props.messageTtlDays ?? 14),
        METRICS_NAMESPACE: props.metricsNamespace ?? 'SubmissionRelay',
        STAGE: props.stage,
        NODE_OPTIONS: '--enable-source-maps',
      },
      description: 'Submission relay reputation: counts SES events per user, warns, throttles and suspends.',
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 on purpose, as the policy function and the relay container: they share the store and contract code, and runtime upgrades are made for all of them together.',
    });

    this.rule = new events.Rule(this, 'SesEvents', {
      description: 'SES sending events of the relay\'s configuration sets, to the reputation function',
      eventPattern: {
        source: ['aws.ses'],
        detailType: REPUTATION_EVENT_TYPES.map((type) => EVENTBRIDGE_DETAIL_TYPES[type]),
        detail: { mail: { tags: { 'ses:configuration-set': [...props.configurationSetNames] } } },
      },
      targets: [
        new targets.LambdaFunction(this.function, {
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    // The dead-letter queue and the function's own failures are watched by the
    // relay's monitoring (watchDeadLetterQueue, watchFunction) like every function's.
    this.stepsAlarm = new cloudwatch.Alarm(this, 'StepsAlarm', {
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      threshold: 1,
      alarmName: `${prefix}-reputation-steps`,
      alarmDescription: 'A relay user was warned, throttled or suspended for their bounce or complaint rate: relayctl reputation shows who and why.',
      metric: new cloudwatch.Metric({
        namespace: props.metricsNamespace ?? 'SubmissionRelay',
        metricName: REPUTATION_STEPS_METRIC,
        dimensionsMap: { Stage: props.stage },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
    });
    if (props.alarmTopic) {
      this.stepsAlarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      this.stepsAlarm.addOkAction(new actions.SnsAction(props.alarmTopic));
    }
  }
}

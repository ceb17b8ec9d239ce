import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from './project-root.ts';
import { RELAY_FUNCTION_DEFAULTS } from './relay-function-defaults.ts';
import { DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS } from './relay-container-settings.ts';
import type { IRelayTables } from './relay-tables.ts';

export interface PolicyFunctionProps {
  /** The tables; the function gets read-only access to the users table. */
  readonly tables: IRelayTables;
  /**
   * The handler's entry file (export `handler`).
   * @default `lambda/handler.ts` of this repository
   */
  readonly entry?: string;
  /**
   * Memory, which on Lambda also buys CPU: password hashing (scrypt, and Argon2id
   * up to 256 MiB for migrated Dovecot hashes) is CPU- and memory-bound.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Time limit of one decision.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency: caps the function (and protects the account's other
   * functions from an AUTH flood) and guarantees it that much capacity.
   * @default - no reservation, the account's unreserved pool
   */
  readonly reservedConcurrency?: number;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when it is removed from the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The policy Lambda (Node 22, ARM64, bundled with the local esbuild): answers
 * the relay's authenticate and authorizeSender questions from the users table.
 *
 * Sizing: a decision is one or two DynamoDB reads plus, for AUTH, one password
 * hash. At 1024 MB (about 0.6 vCPU) a default scrypt hash takes well under half
 * a second and the heaviest legacy hash the function accepts (its own caps: about
 * 1.25 s of one vCPU) about 2 s, cold start included under 3 s. The 10 s
 * timeout leaves room for DynamoDB retries and stays far below SMTP clients'
 * reply timeouts (minutes, RFC 5321 4.5.3.2) and below the relay's own wait, so
 * a stuck call ends as a function error (454 4.7.0 to the client), not a hang.
 *
 * Permissions: its own role, no managed policies: write to its log group, and
 * `GetItem`/`BatchGetItem`/`Query` on the users table and its `byOwner` index.
 */
export class PolicyFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PolicyFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Policy function of the submission relay: reads the users table, writes its own logs.',
    });
    this.logGroup.grantWrite(this.role);
    props.tables.grantPolicyRead(this.role);
    props.tables.grantPasswordRehash(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry ?? path.join(PROJECT_ROOT, 'lambda', 'handler.ts'),
      handler: 'handler',
      ...RELAY_FUNCTION_DEFAULTS,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        TABLE_NAME: props.tables.usersTable.tableName,
        NODE_OPTIONS: '--enable-source-maps',
      },
      description: 'Submission relay policy: authenticates users and authorizes envelope senders.',
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 on purpose: the relay container runs Node 22 (LTS, supported until April 2027) and both sides share the policy contract code; runtime upgrades are made for both together.',
    });
  }

  /** `lambda:InvokeFunction` on this function's ARN only (no versions or aliases: none are published). */
  grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [this.function.functionArn],
    });
  }
}

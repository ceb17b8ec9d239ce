import * as path from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from './project-root.ts';
import { DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS } from './relay-container-settings.ts';
import { RelayFunction } from './relay-function.ts';
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
 * Permissions: its own role, no managed policies: write to its log group,
 * `GetItem`/`BatchGetItem`/`Query` on the users table and its `byOwner` index,
 * and `UpdateItem` of a user's password hash only (the rehash of an imported
 * legacy hash after a successful login).
 */
export class PolicyFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PolicyFunctionProps) {
    super(scope, id);
    // The construct ids of the log group, role and function stay as they were before the house wrapper.
    const house = new RelayFunction(this, 'Resource', {
      entry: props.entry ?? path.join(PROJECT_ROOT, 'lambda', 'handler.ts'),
      description: 'Submission relay policy: authenticates users and authorizes envelope senders.',
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(DEFAULT_POLICY_FUNCTION_TIMEOUT_SECONDS),
      ...(props.reservedConcurrency ? { reservedConcurrency: props.reservedConcurrency } : {}),
      environment: { TABLE_NAME: props.tables.usersTable.tableName },
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.logRemovalPolicy ? { logRemovalPolicy: props.logRemovalPolicy } : {}),
    });
    this.function = house.function;
    this.role = house.role;
    this.logGroup = house.logGroup;
    props.tables.grantPolicyRead(this.role);
    props.tables.grantPasswordRehash(this.role);
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

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** The two tables of the relay and the only ways anyone is given access to them. */
export interface IRelayTables {
  /** Users, their credentials, addresses, aliases and domains. Written only by `relayctl`. */
  readonly usersTable: dynamodb.ITable;
  /** Per-user sending-rate counters, written by the relay tasks. */
  readonly countersTable: dynamodb.ITable;
  /** Read-only access for the policy function: GetItem, BatchGetItem, Query on the table and its `byOwner` index. */
  grantPolicyRead(grantee: iam.IGrantable): iam.Grant;
  /** Atomic counter updates for the relay task: UpdateItem on the counters table, nothing else. */
  grantCounterUpdate(grantee: iam.IGrantable): iam.Grant;
  /**
   * The relay task's view of the users table: its change feed (revocation), by
   * GetItem and Query on the `CHANGE` partition only; no user, hash or grant.
   */
  grantChangeFeedRead(grantee: iam.IGrantable): iam.Grant;
  /**
   * The policy function's one write: replacing a user's password hash after a
   * login with a legacy (imported) hash. UpdateItem on `USER#` items only,
   * touching only `passwordHash` and `updatedAt`.
   */
  grantPasswordRehash(grantee: iam.IGrantable): iam.Grant;
}

export interface RelayTablesProps {
  /**
   * Keep the tables when they would be deleted or replaced (RETAIN), and turn on
   * DynamoDB deletion protection. Turn off only for disposable stages.
   * @default true
   */
  readonly retain?: boolean;
  /**
   * Point-in-time recovery (35 days) on both tables.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
}

/**
 * The relay's DynamoDB tables: on-demand, encrypted with the AWS-managed KMS key
 * (key use shows in CloudTrail; no key policy to maintain), PITR and deletion
 * protection per stage.
 *
 * Key schema (shared with `lambda/user-store.ts` and `relayctl`): users `pk`/`sk`
 * with the global secondary index `byOwner` on `gsi1pk`/`gsi1sk` (all attributes
 * projected) and TTL attribute `expiresAt` (change feed items); counters `pk`/`sk`
 * with TTL attribute `expiresAt`.
 */
export class RelayTables extends Construct implements IRelayTables {
  /** Name of the users table's owner index; the policy function queries it. */
  static readonly OWNER_INDEX_NAME = 'byOwner';
  /** TTL attribute of the counters table and of the users table's change items (epoch seconds). */
  static readonly COUNTER_TTL_ATTRIBUTE = 'expiresAt';
  /** Partition of the users table that holds the change feed (see lambda/user-store.ts). */
  static readonly CHANGE_FEED_PARTITION = 'CHANGE';

  readonly usersTable: dynamodb.Table;
  readonly countersTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: RelayTablesProps = {}) {
    super(scope, id);
    const pointInTimeRecovery = props.pointInTimeRecovery ?? true;
    const common = relayTableProps(props);

    this.usersTable = new dynamodb.Table(this, 'Users', { ...common, timeToLiveAttribute: RelayTables.COUNTER_TTL_ATTRIBUTE });
    this.usersTable.addGlobalSecondaryIndex({
      indexName: RelayTables.OWNER_INDEX_NAME,
      partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    this.countersTable = new dynamodb.Table(this, 'Counters', {
      ...common,
      timeToLiveAttribute: RelayTables.COUNTER_TTL_ATTRIBUTE,
    });

    if (!pointInTimeRecovery) {
      Validations.of(this).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason:
          'Point-in-time recovery is switched off only by stage configuration for disposable stages (dev), whose tables hold test users and short-lived counters; every stage that keeps data has it on.',
      });
    }
  }

  grantPolicyRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
      resourceArns: [
        this.usersTable.tableArn,
        `${this.usersTable.tableArn}/index/${RelayTables.OWNER_INDEX_NAME}`,
      ],
    });
  }

  grantPasswordRehash(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.usersTable.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['USER#*'] },
        'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'passwordHash', 'updatedAt'] },
        // Without this an UpdateItem could ask for ALL_OLD and read attributes the grant does not name.
        StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_OLD', 'UPDATED_NEW'] },
      },
    });
  }

  grantChangeFeedRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resourceArns: [this.usersTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [RelayTables.CHANGE_FEED_PARTITION] } },
    });
  }

  grantCounterUpdate(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:UpdateItem'],
      resourceArns: [this.countersTable.tableArn],
    });
  }
}

/**
 * What every table of the relay shares: `pk`/`sk` string keys, on demand,
 * AWS-managed encryption, PITR (35 days) and, where data is kept, deletion
 * protection and RETAIN.
 */
export function relayTableProps(props: RelayTablesProps): dynamodb.TableProps {
  const retain = props.retain ?? true;
  return {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification:
      (props.pointInTimeRecovery ?? true) ? { pointInTimeRecoveryEnabled: true, recoveryPeriodInDays: 35 } : { pointInTimeRecoveryEnabled: false },
    deletionProtection: retain,
    removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  };
}

import { Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { relayTableProps } from './relay-tables.ts';

export interface ReputationTableProps {
  /**
   * Keep the table when it would be deleted or replaced, with deletion protection.
   * @default true
   */
  readonly retain?: boolean;
  /**
   * Point-in-time recovery (35 days).
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
}

/**
 * The reputation table: per-user hourly counts of SES events, each user's
 * reputation step, event markers and message trails (schema in
 * `lambda/reputation-store.ts`). Its own table, so that only the reputation
 * function writes it: the relay task, which updates the counters table, has no
 * access here and cannot rewrite anyone's reputation. On-demand, AWS-managed
 * encryption, TTL on `expiresAt` (hours after 8 days, trails after 14).
 * Stateful: created in the data stack.
 */
export class ReputationTable extends Construct {
  /** TTL attribute (epoch seconds). */
  static readonly TTL_ATTRIBUTE = 'expiresAt';

  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: ReputationTableProps = {}) {
    super(scope, id);
    const pointInTimeRecovery = props.pointInTimeRecovery ?? true;
    this.table = new dynamodb.Table(this, 'Table', { ...relayTableProps(props), timeToLiveAttribute: ReputationTable.TTL_ATTRIBUTE });
    if (!pointInTimeRecovery) {
      Validations.of(this.table).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason:
          'Point-in-time recovery is switched off only by stage configuration for disposable stages (dev), whose reputation counts are test traffic that expires within days anyway; every stage that keeps data has it on.',
      });
    }
  }

  /** What the reputation function does here: items read, written, counted, and one user's hours queried. No Scan. */
  grantReputationWrite(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
      resourceArns: [this.table.tableArn],
    });
  }
}

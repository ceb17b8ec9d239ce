/**
 * Policy function: decides, for the relay front end, whether credentials are
 * right and whether a user may send as an envelope sender.
 *
 * SECURITY: invoked only by the relay's task role. Reads the users table and
 * nothing else. The event carries passwords: it is never logged, and errors name
 * fields, never values. It answers refusals as decisions and throws only when it
 * could not decide, which the relay turns into a temporary failure.
 *
 * STANDARDS: RFC 4954 (SMTP AUTH) and RFC 6409 (message submission) semantics
 * are the relay's; this function implements the decisions behind them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createPolicyHandler } from './policy-handler.ts';
import { UserStore } from './user-store.ts';

const tableName = process.env.TABLE_NAME;
if (!tableName) throw new Error('TABLE_NAME is not set');

// Created once per execution environment, reused across invocations.
export const handler = createPolicyHandler(new UserStore(new DynamoDBClient({}), tableName));

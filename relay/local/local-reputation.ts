import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createReputationHandler, type EventBridgeSesEvent, type ReputationLog } from '../../lambda/reputation-handler.ts';
import { stageThresholdsFrom } from '../../lambda/reputation-policy.ts';
import { ReputationStore } from '../../lambda/reputation-store.ts';
import type { UserStore } from '../../lambda/user-store.ts';
import { LOCAL_REPUTATION_TABLE } from './embedded-dynamodb.ts';

export interface LocalReputation {
  readonly store: ReputationStore;
  /** Hands SES's events to the reputation handler, one after the other, in the order given. */
  publish(events: readonly EventBridgeSesEvent[]): void;
  /** Resolves once every event published so far has been handled. */
  settled(): Promise<void>;
}

/**
 * The reputation function of the local stack: the same handler the Lambda
 * runs, called in-process with the events the SES stand-in publishes, one at
 * a time as EventBridge would hand them over (in order here; the handler does
 * not rely on it). A failed event is logged, as the DLQ would keep it.
 */
export function startLocalReputation(options: {
  readonly client: DynamoDBClient;
  readonly users: UserStore;
  readonly log: ReputationLog & { error(fields: Record<string, unknown>, message: string): void };
  /** `REPUTATION_THRESHOLDS` (JSON), as the function reads it. */
  readonly thresholds?: string;
}): LocalReputation {
  const store = new ReputationStore(options.client, LOCAL_REPUTATION_TABLE);
  const handle = createReputationHandler({ reputation: store, users: options.users, thresholds: stageThresholdsFrom(options.thresholds), log: options.log });
  let queue: Promise<void> = Promise.resolve();
  return {
    store,
    publish(events) {
      for (const event of events) {
        queue = queue.then(() =>
          handle(event).then(
            () => undefined,
            (error: unknown) => options.log.error({ event: 'reputation-failed', eventBridgeId: event.id, err: String(error) }, 'reputation event failed'),
          ),
        );
      }
    },
    settled: () => queue,
  };
}

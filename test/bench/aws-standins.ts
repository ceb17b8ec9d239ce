/**
 * Benchmark child: the AWS stand-ins the relay talks to, in a process of their
 * own so that their CPU (dynalite, JSON and base64 decoding of every message)
 * and memory do not count as the relay's:
 * - dynalite for DynamoDB, in memory; every request is counted by operation
 *   (read or write) as it reaches the HTTP server, and its handling time summed;
 * - the local SES v2 stand-in, keeping messages in memory only, which also
 *   times each SendEmail as SES sees it (request headers in to answer
 *   written), keyed by the MessageId it answers, so the bench can take the
 *   SES call out of the relay's latency message by message.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';
import { startLocalSesEndpoint } from '../../relay/local/ses-endpoint.ts';
import { announce, serveControl } from './bench-child.ts';

const dynamo = await startEmbeddedDynamoDb(undefined);
const ses = await startLocalSesEndpoint({ keepInMemory: true, env: {} });
const dynamoPort = Number(new URL(dynamo.endpoint).port);

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
/** `quotaWrites`: UpdateItem calls, the one request the relay's sending quota makes. */
const dynamoCounts = { reads: 0, writes: 0, quotaWrites: 0, other: 0, ms: 0 };
let sesTimes: Array<[string, number]> = [];

diagnosticsChannel.subscribe('http.server.request.start', (message) => {
  const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server: Server };
  const started = performance.now();
  // Node closes a keep-alive connection after 5 s idle; the relay reusing one just
  // then gets ECONNRESET, which the SDK reports as a timeout and the SES sender
  // answers 451 (it never retries a send). Between rows the relay idles longer
  // than that, so the stand-ins keep connections open the way a busy AWS endpoint would.
  if (server.keepAliveTimeout < 120_000) server.keepAliveTimeout = 120_000;
  if ((server.address() as AddressInfo | null)?.port === dynamoPort) {
    const operation = String(request.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    if (READS.has(operation)) dynamoCounts.reads++;
    else if (WRITES.has(operation)) dynamoCounts.writes++;
    if (operation === 'UpdateItem') dynamoCounts.quotaWrites++;
    else dynamoCounts.other++;
    response.once('finish', () => (dynamoCounts.ms += performance.now() - started));
    return;
  }
  const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
  response.end = ((...args: unknown[]) => {
    const body = args[0];
    if (Buffer.isBuffer(body) || typeof body === 'string') {
      const match = /"MessageId":"([^"]+)"/.exec(body.toString());
      if (match) sesTimes.push([match[1]!, performance.now() - started]);
    }
    return end(...args);
  }) as ServerResponse['end'];
});

serveControl(
  {
    counters: () => ({ dynamo: { ...dynamoCounts }, ses: ses.stats() }),
    /** SES call times since the last ask, as [MessageId, ms]. */
    'ses-times': () => {
      const taken = sesTimes;
      sesTimes = [];
      return taken;
    },
  },
  async () => {
    await ses.close();
    await dynamo.close();
  },
);

announce({ sesEndpoint: ses.url, dynamoEndpoint: dynamo.endpoint });

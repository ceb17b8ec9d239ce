import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createSesClient } from '../../relay/aws-clients.ts';
import { startLocalSesEndpoint } from '../../relay/local/ses-endpoint.ts';
import { rawDataStream, SesSender, STREAM_ABOVE_BYTES, withRawData } from '../../relay/ses-sender.ts';

const serialized = '{"Content":{"Raw":{"Data":""}},"Destination":{"ToAddresses":["a@example.net"]},"FromEmailAddress":"b@example.org"}';

describe('the SendEmail body with the raw message filled in', () => {
  test('decodes to the exact bytes, for every remainder of the 3-byte base64 groups and across pieces', () => {
    const step = 3 * 16 * 1024;
    for (const length of [0, 1, 2, 3, 4, 1000, step - 1, step, step + 1, 2 * step + 2, 5 * step + 1]) {
      const raw = randomBytes(length);
      for (const body of [serialized, Buffer.from(serialized)]) {
        const filled = JSON.parse(withRawData(body, raw).toString('latin1')) as { Content: { Raw: { Data: string } }; FromEmailAddress: string };
        assert.deepEqual(Buffer.from(filled.Content.Raw.Data, 'base64'), raw, `length ${length}`);
        assert.equal(filled.FromEmailAddress, 'b@example.org');
      }
    }
  });

  test('a body in a view of a larger buffer (as the SDK hands it over) is read within the view', () => {
    const backing = Buffer.from(`XXXX${serialized}YYYY`);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, serialized.length);
    const filled = JSON.parse(withRawData(view, Buffer.from('hello')).toString()) as { Content: { Raw: { Data: string } } };
    assert.equal(Buffer.from(filled.Content.Raw.Data, 'base64').toString(), 'hello');
  });

  test('a body without the empty Raw.Data slot is refused rather than sent without the message', () => {
    assert.throws(() => withRawData('{"Content":{"Raw":{"Data":"aGk="}}}', Buffer.from('x')), /no empty Content.Raw.Data/);
    assert.throws(() => withRawData(undefined, Buffer.from('x')), /no empty Content.Raw.Data/);
    // A header value that quotes the slot is JSON-escaped, so it cannot be mistaken for it.
    const tricky = JSON.stringify({ FromEmailAddress: '"Data":""@example.org', Content: { Raw: { Data: '' } } });
    const filled = JSON.parse(withRawData(tricky, Buffer.from('hi')).toString()) as { FromEmailAddress: string; Content: { Raw: { Data: string } } };
    assert.equal(filled.FromEmailAddress, '"Data":""@example.org');
    assert.equal(filled.Content.Raw.Data, 'aGk=');
  });

  test('the streamed body is byte for byte the one-buffer body, with its length and SHA-256 for SigV4', async () => {
    for (const length of [0, 5, 3 * 16 * 1024 + 1, 2 * 1024 * 1024 + 2]) {
      const raw = randomBytes(length);
      const whole = withRawData(serialized, raw);
      const stream = rawDataStream(Buffer.from(serialized), raw);
      const pieces: Buffer[] = [];
      for await (const piece of stream.body) pieces.push(Buffer.from(piece as Buffer | string));
      const streamed = Buffer.concat(pieces);
      assert.ok(streamed.equals(whole), `length ${length}`);
      assert.equal(stream.length, whole.length);
      assert.equal(stream.sha256, createHash('sha256').update(whole).digest('hex'));
    }
  });

  test('through the real SDK to the SES stand-in, small and streamed messages arrive byte for byte, retries included', async () => {
    const ses = await startLocalSesEndpoint({ keepInMemory: true, keepLast: 4, env: {} });
    try {
      const client = createSesClient({ region: 'us-east-1', endpoint: ses.url, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }, 10_000);
      const sender = new SesSender(client, { throttleRetries: 1, throttleBackoffMs: 1 });
      const small = randomBytes(10_000);
      const large = randomBytes(STREAM_ABOVE_BYTES * 3 + 1);
      await sender.send({ from: 'a@example.org', recipients: ['b@example.net'], raw: small });
      ses.faults.arm('throttle', 1); // the first try of the large one is refused, the retry rebuilds its stream
      await sender.send({ from: 'a@example.org', recipients: ['b@example.net'], raw: large });
      const received = ses.recentMessages();
      assert.equal(received.length, 2);
      assert.ok(received[0]!.raw.equals(small));
      assert.ok(received[1]!.raw.equals(large));
      assert.equal(ses.stats().errors.TooManyRequestsException, 1);
    } finally {
      await ses.close();
    }
  });

  test('a message in pieces encodes as the same message in one buffer, however the pieces split the 3-byte groups', async () => {
    const raw = randomBytes(3 * 16 * 1024 * 2 + 7);
    const cuts = [[], [1], [2], [1, 2], [1, 3, 4], [5, 5, 5], [3 * 16 * 1024 + 1, 3 * 16 * 1024 + 2], [raw.length - 1]];
    const whole = withRawData(serialized, raw);
    for (const at of cuts) {
      const parts = [0, ...at, raw.length].slice(1).map((end, i, ends) => raw.subarray(i === 0 ? 0 : ends[i - 1], end));
      parts.unshift(Buffer.alloc(0));
      assert.ok(withRawData(serialized, parts).equals(whole), `cut at ${at.join(',')}`);
      const stream = rawDataStream(serialized, parts);
      const pieces: Buffer[] = [];
      for await (const piece of stream.body) pieces.push(Buffer.from(piece as Buffer | string));
      assert.ok(Buffer.concat(pieces).equals(whole), `streamed, cut at ${at.join(',')}`);
    }
  });
});

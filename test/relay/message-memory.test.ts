import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { FaultClient, type FaultSession } from '../faults/fault-client.ts';
import { startLocalRelayProcess, type LocalRelayProcess } from '../faults/local-relay-process.ts';
import type { SmtpReply } from '../support/smtp-dialogue.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';
const MB = 1024 * 1024;
const SIZE = 2_000_000;
/** Room for two messages near SIZE: twenty at once cannot all be held. */
const BUDGET = 2 * SIZE;
const HEADER = `From: <${USER}>\r\nTo: <someone@example.net>\r\nSubject: big\r\n\r\n`;
/** 1 MiB of 78-character lines ending in CRLF. */
const BODY_MEGABYTE = Buffer.from(`${'x'.repeat(78)}\r\n`.repeat(Math.ceil(MB / 80))).subarray(0, MB - (MB % 80));

/** The relay process's resident set, and its peak since the last reset, in bytes (Linux /proc). */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** MAIL, RCPT, DATA; the reply to DATA. */
async function startData(session: FaultSession): Promise<SmtpReply> {
  assert.equal((await session.smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
  assert.equal((await session.smtp.command('RCPT TO:<someone@example.net>')).code, 250);
  return session.smtp.command('DATA');
}

describe('memory stays bounded (issue 10 item 4)', () => {
  let relay: LocalRelayProcess;
  let client: FaultClient;
  before(async () => {
    relay = await startLocalRelayProcess({ MAX_MESSAGE_BYTES: String(SIZE), MESSAGE_MEMORY_BUDGET_BYTES: String(BUDGET) });
    await relay.addUser(USER, PASSWORD);
    client = new FaultClient(relay.submissionPort, { login: USER, password: PASSWORD });
  });
  after(() => relay.dispose());

  test('400 MB past SIZE in one DATA: 552 5.3.4, the session goes on, and the relay grows by less than 100 MB', async (t) => {
    const pid = relay.child.pid!;
    const session = await client.openAuthenticated();
    // Warm up: TLS, the SES client and the policy have done their first work before the baseline.
    assert.match((await session.transaction('warm-up')).reply?.text ?? '', /^250 /);
    const baseline = await memoryOf(pid);
    // Linux: "5" resets the peak resident set (VmHWM) to the current one.
    await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);

    assert.equal((await startData(session)).code, 354);
    await session.smtp.writePaced(Buffer.from(HEADER));
    let sampledPeak = 0;
    for (let sent = 0; sent < SIZE + 400 * MB; sent += BODY_MEGABYTE.length) {
      await session.smtp.writePaced(BODY_MEGABYTE);
      if (sent % (16 * MB) < BODY_MEGABYTE.length) sampledPeak = Math.max(sampledPeak, (await memoryOf(pid)).rss);
    }
    session.smtp.write('.\r\n');
    assert.equal((await session.smtp.read(120_000)).text, '552 5.3.4 Message size exceeds fixed maximum message size');
    const end = await memoryOf(pid);
    const growth = Math.max(end.peak, sampledPeak) - baseline.rss;
    t.diagnostic(`relay resident set: ${(baseline.rss / MB).toFixed(1)} MB before, grew by ${(growth / MB).toFixed(1)} MB at most`);
    assert.ok(growth < 100 * MB, `the relay grew by ${(growth / MB).toFixed(1)} MB`);

    // The session goes on.
    assert.match((await session.transaction('after')).reply?.text ?? '', /^250 2\.0\.0 Ok: queued as /);
    await session.quit();
  });

  test('twenty messages near SIZE at once with a budget for two: every client gets 250 or 451 4.3.1, and the relay serves on', async (t) => {
    const sessions = await Promise.all(Array.from({ length: 20 }, () => client.openAuthenticated()));
    const nearSize = Buffer.from(HEADER + `${'y'.repeat(78)}\r\n`.repeat(Math.floor((SIZE - HEADER.length - 1_000) / 80)));
    const firstPart = nearSize.subarray(0, nearSize.length - 80_000);
    const dataReplies = await Promise.all(sessions.map(startData));
    // Every message is under way before any ends, so they meet in the relay's memory.
    const started = sessions.filter((_, i) => dataReplies[i]!.code === 354);
    await Promise.all(started.map((session) => session.smtp.writePaced(firstPart)));
    const finalReplies = await Promise.all(
      started.map(async (session) => {
        await session.smtp.writePaced(Buffer.concat([nearSize.subarray(firstPart.length), Buffer.from('.\r\n')]));
        return session.smtp.read(60_000);
      }),
    );
    const replies = [...dataReplies.filter((reply) => reply.code !== 354), ...finalReplies].map((reply) => reply.text);
    assert.equal(replies.length, 20);
    for (const reply of replies) assert.match(reply, /^(250 2\.0\.0 Ok: queued as \S+|451 4\.3\.1 Insufficient system storage, try again later)$/);
    const refused = replies.filter((reply) => reply.startsWith('451')).length;
    t.diagnostic(`${refused} of 20 refused 451 4.3.1`);
    assert.ok(refused > 0, 'twenty messages near SIZE do not fit a budget for two');
    const logged = relay.logLines().filter((line) => line.event === 'reject' && line.reason === 'message-memory');
    assert.equal(logged.length, refused, 'each refusal is logged');

    // Nothing stays held: every session can send again (RSET ends a transaction refused at DATA), and the process is alive.
    const again = await Promise.all(
      sessions.map(async (session) => {
        assert.equal((await session.smtp.command('RSET')).code, 250);
        return session.transaction('again');
      }),
    );
    for (const transaction of again) assert.match(transaction.reply?.text ?? '', /^250 2\.0\.0 Ok: queued as /);
    await Promise.all(sessions.map((session) => session.quit()));
    assert.equal(relay.child.exitCode, null);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { humanLogLine } from '../../relay/human-log-line.ts';
import { logFormatFrom } from '../../relay/relay-log.ts';
import { startLocalRelayProcess, type LocalRelayProcess } from '../faults/local-relay-process.ts';
import { SmtpDialogue } from '../support/smtp-dialogue.ts';
import { until } from '../support/until.ts';

const TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} /;

describe('the human log line', () => {
  test("an event is one line: local time, Postfix's severity prefix, session, message, private cause", () => {
    const line = humanLogLine({
      level: 'error',
      time: '2026-12-05T17:20:01.123Z',
      event: 'reject',
      session: 'q2x7k',
      code: 454,
      cause: 'PolicyUnavailableError: function error',
      msg: 'reject: AUTH from [192.0.2.1]: 454 4.7.0 Temporary authentication failure',
    });
    assert.match(line, TIME);
    assert.equal(
      line.replace(TIME, ''),
      'error: q2x7k: reject: AUTH from [192.0.2.1]: 454 4.7.0 Temporary authentication failure (PolicyUnavailableError: function error)',
    );
    assert.equal(humanLogLine({ level: 'info', time: '2026-12-05T17:20:01.123Z', msg: 'relay started' }).replace(TIME, ''), 'relay started');
    assert.equal(humanLogLine({ level: 'warn', msg: 'smtp server error', err: { message: 'EPIPE' } }).trim(), 'warning: smtp server error (EPIPE)');
  });

  test("a client's CR, LF or escape sequence cannot forge a line or drive the terminal", () => {
    const line = humanLogLine({ level: 'info', msg: 'auth failed: evil\r\nINFO fake line\x1b[2J from [192.0.2.1]' });
    assert.equal(line.split('\n').length, 1);
    assert.ok(line.includes('evil\\x0d\\x0aINFO fake line\\x1b[2J'), line);
  });

  test('LOG_FORMAT picks the format; unset, a terminal gets text and anything else JSON', () => {
    assert.equal(logFormatFrom({}, true), 'text');
    assert.equal(logFormatFrom({}, false), 'json');
    assert.equal(logFormatFrom({ LOG_FORMAT: 'json' }, true), 'json');
    assert.equal(logFormatFrom({ LOG_FORMAT: 'text' }, false), 'text');
    assert.throws(() => logFormatFrom({ LOG_FORMAT: 'pretty' }, false), /^Error: LOG_FORMAT: must be json or text, not "pretty"$/);
  });
});

describe('npm start with LOG_FORMAT=text', () => {
  let relay: LocalRelayProcess;
  before(async () => {
    relay = await startLocalRelayProcess({ LOG_FORMAT: 'text' });
  });
  after(() => relay?.dispose());

  test('writes one Postfix-style line per event, and no JSON', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read();
    await smtp.command('EHLO printer.test');
    await smtp.command('MAIL FROM:<printer@example.org>');
    await smtp.command('QUIT');
    await smtp.waitClosed();
    await until(() => relay.stdout().includes('disconnect from'), 'the disconnect line');

    const lines = relay.stdout().trimEnd().split('\n');
    assert.deepEqual(lines.filter((line) => !TIME.test(line)), [], 'every line starts with the time');
    const events = lines.map((line) => line.replace(TIME, '').replace(/^\S+: /, ''));
    // Start-up lines (the certificate loaded) come first; the session's are what this test is about.
    assert.deepEqual(events.slice(events.indexOf('connect from [127.0.0.1]')), [
      'connect from [127.0.0.1]',
      'reject: MAIL from [127.0.0.1]: 530 5.7.0 Must issue a STARTTLS command first',
      'disconnect from [127.0.0.1] ehlo=1 mail=0/1 quit=1 commands=2/3',
    ]);
  });
});

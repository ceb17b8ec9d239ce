import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Transaction } from './fault-client.ts';
import { account, formatTable } from './fault-ledger.ts';

const reply = (text: string) => ({ code: Number(text.slice(0, 3)), lines: [text.slice(4)], text });
const ok = (message: string, id: string): Transaction => ({ message, stage: 'DATA', reply: reply(`250 2.0.0 Ok: queued as ${id}`), queuedAs: id });
const refused = (message: string, text: string): Transaction => ({ message, stage: 'DATA', reply: reply(text) });

test('told 250 and held under that id is delivered; a 4xx then a 250 is one message, two attempts', () => {
  const row = account([refused('m1', '451 4.4.0 x'), ok('m1', 'A')], [{ id: 'A', marker: 'm1' }]);
  assert.deepEqual(
    { ...row, losses: row.losses.length, duplicateRisks: row.duplicateRisks.length },
    { messages: 1, attempts: 2, delivered: 1, refused4xx: 1, refused5xx: 0, noReply: 0, lost: 0, duplicated: 0, losses: 0, duplicateRisks: 0 },
  );
});

test('lost: told 250 for an id SES does not hold', () => {
  assert.equal(account([ok('m1', 'A')], []).lost, 1);
  assert.equal(account([ok('m1', 'A')], [{ id: 'B', marker: 'm1' }]).lost, 1, 'another id is not that message');
});

test('lost: SES holds a message whose client was told 5xx (it will not retry), or one no attempt accounts for', () => {
  assert.equal(account([refused('m1', '554 5.6.0 x')], [{ id: 'A', marker: 'm1' }]).lost, 1);
  assert.equal(account([ok('m1', 'A')], [{ id: 'A', marker: 'm1' }, { id: 'B' }]).lost, 1);
});

test('not lost but a duplicate in waiting: SES holds it and the client got a 4xx or nothing', () => {
  for (const last of [refused('m1', '451 4.4.1 x'), { message: 'm1', stage: 'DATA' } as Transaction]) {
    const row = account([last], [{ id: 'A', marker: 'm1' }]);
    assert.equal(row.lost, 0);
    assert.equal(row.duplicateRisks.length, 1);
  }
});

test('duplicated: SES holds the message twice', () => {
  const row = account([refused('m1', '451 4.4.1 x'), ok('m1', 'B')], [{ id: 'A', marker: 'm1' }, { id: 'B', marker: 'm1' }]);
  assert.equal(row.duplicated, 1);
  assert.equal(row.lost, 0);
  assert.equal(row.delivered, 1);
});

test('the table has a row per fault and a total', () => {
  const row = account([ok('m1', 'A')], [{ id: 'A', marker: 'm1' }]);
  const table = formatTable([{ fault: 'x', row }, { fault: 'y', row }, { fault: 'z', row: undefined }]).split('\n');
  assert.match(table[0]!, /^\| fault +\| messages \| attempts \| delivered \| refused 4xx \| refused 5xx \| no reply \| lost \| duplicated \|$/);
  assert.match(table[table.length - 1]!, /^\| total +\| +2 \| +2 \| +2 \| +0 \| +0 \| +0 \| +0 \| +0 \|$/);
  assert.ok(table.some((line) => line.includes('FAILED TO RUN')));
});

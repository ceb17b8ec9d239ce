import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * relay/submission-server.ts and relay/smtp-session-gate.ts reach into
 * smtp-server beyond its public hooks (see smtp-connection-internals.ts). This
 * pins the version they were written against and checks every member they use,
 * so an upgrade that moves one fails here, loudly, instead of in production.
 */
test('smtp-server is the pinned version', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../node_modules/smtp-server/package.json', import.meta.url), 'utf8')) as { version: string };
  const ours = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  assert.equal(ours.dependencies['smtp-server'], '3.21.6', 'pinned exactly, no range');
  assert.equal(pkg.version, '3.21.6');
});

test('the connection members the relay relies on exist', () => {
  for (const method of ['_onCommand', 'send', 'close', '_setListeners', 'connectionReady', 'init', '_resetSession', '_onClose']) {
    assert.equal(typeof (SMTPConnection.prototype as unknown as Record<string, unknown>)[method], 'function', method);
  }
  for (const method of ['connect', '_onError', '_onClientConnect', 'close']) {
    assert.equal(typeof (SMTPServer.prototype as unknown as Record<string, unknown>)[method], 'function', method);
  }
});

test("the library's connect() still does only what our override repeats", () => {
  const source = SMTPServer.prototype.connect.toString().replace(/\s+/g, ' ');
  assert.match(source, /new SMTPConnection\(this, socket, socketOptions\)/);
  assert.match(source, /this\.connections\.add\(connection\)/);
  assert.match(source, /connection\.on\('error'/);
  assert.match(source, /connection\.on\('connect'/);
  assert.match(source, /connection\.init\(\)/);
  const init = SMTPConnection.prototype.init.toString().replace(/\s+/g, ' ');
  assert.match(init, /setTimeout\(\(\) => this\.connectionReady\(\), 100\)/, 'the early-talker delay we skip');
});

test('_onClose runs on every close, before STARTTLS and after, and sets _closed the first time', () => {
  const source = (method: string) =>
    ((SMTPConnection.prototype as unknown as Record<string, () => void>)[method] ?? '').toString().replace(/\s+/g, ' ');
  // The raw socket loses its listeners at STARTTLS; the TLS socket's close ends in _onClose too.
  assert.match(source('_setListeners'), /this\._socket\.on\('close', hadError => this\._onCloseEvent\(hadError\)\)/);
  assert.match(source('upgrade'), /this\._socket\.removeAllListeners\(\)/);
  assert.match(source('upgrade'), /tlsSocket\.once\('close', \(hadError\) => this\._onCloseEvent\(hadError\)\)/);
  assert.match(source('_onCloseEvent'), /this\._onClose\(\);/);
  assert.match(source('_onClose'), /if \(this\._closed\) \{ return; \} this\._closed = true;/);
});

/**
 * Node's `latin1`, `binary` and `ascii` encoders keep only the low byte of each
 * character: U+030A becomes LF, U+030D becomes CR. Client text put through one
 * of them can write header lines nobody judged (issue #9). This test reads the
 * source of everything that ships and fails on any use of those encodings (or
 * of the 16-bit ones, which no mail text needs) that is not listed here with
 * the reason it can never see such text.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SHIPPED = ['relay', 'lambda', 'bin', 'lib'];
const ENCODING = /['"`](?:latin1|binary|ascii|ucs-?2|utf-?16le)['"`]/i;

/** `file: the line, trimmed` -> why it is safe. */
const KNOWN: Record<string, string> = {
  "relay/smtp-session-gate.ts: const line = command.toString('binary');": 'a decode, one character per byte, only inspected (verbs and base64): nothing is encoded back',
  "relay/ses-sender.ts: for (const piece of base64Pieces(raw)) at += out.write(piece, at, 'latin1');": 'base64 text, ASCII by construction',
  "relay/ses-sender.ts: for (const piece of base64Pieces(raw)) hash.update(piece, 'latin1');": 'base64 text, ASCII by construction',
  "lambda/legacy-password-hash.ts: const digest = shaCryptDigest(variant.algorithm, password, Buffer.from(match[3]!, 'ascii'), rounds);": 'the salt matched [./0-9A-Za-z] just before',
  "lambda/legacy-password-hash.ts: const computed = Buffer.from(encodeCryptBase64(digest, variant.encodingOrder), 'ascii');": 'crypt base64 alphabet, ASCII by construction',
  "lambda/legacy-password-hash.ts: return timingSafeEqual(computed, Buffer.from(expected, 'ascii'));": 'the hash matched [./0-9A-Za-z] just before',
  "lambda/legacy-password-hash.ts: outputType: 'binary',": 'a hash-wasm option naming its output type, not an encoding of text',
  "bin/relayctl/local-deployment-checks.ts: received += chunk.toString('latin1');": 'a decode of the greeting, only compared: nothing is encoded back',
};

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(?:ts|js|mjs)$/.test(entry.name))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

test('no lossy encoding of text in shipped code, but the few listed with their reasons', async () => {
  const found: string[] = [];
  for (const dir of SHIPPED) {
    for (const file of await sourceFiles(dir)) {
      const lines = (await readFile(path.join(ROOT, file), 'utf8')).split('\n');
      for (const line of lines) if (ENCODING.test(line)) found.push(`${file.split(path.sep).join('/')}: ${line.trim()}`);
    }
  }
  assert.deepEqual(found.filter((use) => !(use in KNOWN)), [], 'a lossy encoding: use UTF-8, or prove the text ASCII and list it here');
  assert.deepEqual(Object.keys(KNOWN).filter((use) => !found.includes(use)), [], 'listed uses that are gone: take them off the list');
});

test('the test finds what it looks for', () => {
  for (const line of ["Buffer.from(text, 'latin1')", 'x.toString("binary")', "Buffer.from(s, 'ascii')", "b.write(s, 0, 'ucs2')"]) assert.match(line, ENCODING);
});

/**
 * The integ test's snapshot, checked offline as integ-runner checks it before
 * deploying anything: the integ app is synthesized (with its placeholders) and
 * every stack's template must equal the committed one, apart from the hashes of
 * bundled code (asset keys, the ids of published versions), which change with
 * any edit of a function and say nothing about the infrastructure.
 *
 * After a deliberate change of the stacks: UPDATE_INTEG_SNAPSHOT=1 node --import tsx --test test/integ/integ-snapshot.test.ts
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const SNAPSHOT_DIR = path.join(import.meta.dirname, 'integ.relay.ts.snapshot');
const PLACEHOLDER_ENV = /^RELAY_INTEG_/;

/** Hashes of bundled code and synth timestamps replaced by markers: they follow every edit of a function, and every run. */
function normalize(template: string): unknown {
  return JSON.parse(
    template
      .replace(/[0-9a-f]{64}(\.zip)?/g, '<asset-hash>$1')
      .replace(/CurrentVersion[0-9A-F]{8}[0-9a-f]{32}/g, 'CurrentVersion<hash>')
      // integ-tests stamps each assertion with the synth time so that it runs on every deploy.
      .replace(/"salt":\s*"\d+"/g, '"salt":"<synth time>"'),
  );
}

describe('integ test snapshot (test/integ/integ.relay.ts)', () => {
  let outdir: string;
  let synthesized: string[];

  before(async () => {
    outdir = await mkdtemp(path.join(tmpdir(), 'relay-integ-'));
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !PLACEHOLDER_ENV.test(name)));
    await run(process.execPath, ['--import', 'tsx', 'test/integ/integ.relay.ts'], { cwd: ROOT, env: { ...env, CDK_OUTDIR: outdir }, maxBuffer: 64 * 1024 * 1024 });
    synthesized = (await readdir(outdir)).filter((name) => name.endsWith('.template.json') || name === 'integ.json').sort();
    if (process.env.UPDATE_INTEG_SNAPSHOT === '1') {
      await rm(SNAPSHOT_DIR, { recursive: true, force: true });
      await mkdir(SNAPSHOT_DIR, { recursive: true });
      for (const name of synthesized) {
        await writeFile(path.join(SNAPSHOT_DIR, name), `${JSON.stringify(normalize(await readFile(path.join(outdir, name), 'utf8')), null, 1)}\n`);
      }
    }
  });
  after(() => rm(outdir, { recursive: true, force: true }));

  test('the same stacks as the committed snapshot', async () => {
    assert.deepEqual(synthesized, (await readdir(SNAPSHOT_DIR)).sort());
    assert.deepEqual(synthesized.filter((name) => name.endsWith('.template.json')), [
      'RelayIntegDefaultTestDeployAssert5C010351.template.json',
      'SubmissionRelay-integ-Data.template.json',
      'SubmissionRelay-integ-Probe.template.json',
      'SubmissionRelay-integ-Service.template.json',
    ]);
  });

  test('every template equals its snapshot (code hashes aside)', async () => {
    for (const name of synthesized) {
      const actual = normalize(await readFile(path.join(outdir, name), 'utf8'));
      const expected = JSON.parse(await readFile(path.join(SNAPSHOT_DIR, name), 'utf8')) as unknown;
      assert.deepEqual(actual, expected, `${name} differs from the snapshot: if the change is meant, refresh it (see the top of this file) and commit it`);
    }
  });

  test('the assertions ask what the issue asks: the policy function answers, and TLS on 465 and STARTTLS on 587', async () => {
    const assertions = await readFile(path.join(outdir, 'RelayIntegDefaultTestDeployAssert5C010351.template.json'), 'utf8');
    const invokes = Object.values((JSON.parse(assertions) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> }).Resources)
      .filter((resource) => resource.Type.startsWith('Custom::') && resource.Properties.api === 'invoke')
      .map((resource) => JSON.stringify(resource.Properties));
    assert.equal(invokes.length, 2);
    assert.ok(invokes.some((call) => call.includes('authenticate') && call.includes('RelayPolicyFunction') && call.includes('verdict')), 'the policy function answers a decision');
    assert.ok(invokes.some((call) => call.includes('TlsProbe') && call.includes('LoadBalancer') && /submissions.*TLSv1.*submission.*TLSv1/.test(call)), 'the probe gets TLS on both ports of the NLB');
    const integ = JSON.parse(await readFile(path.join(outdir, 'integ.json'), 'utf8')) as { testCases: Record<string, { stacks: string[] }> };
    assert.deepEqual(Object.values(integ.testCases)[0]!.stacks.sort(), ['SubmissionRelay-integ-Data', 'SubmissionRelay-integ-Probe', 'SubmissionRelay-integ-Service']);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOCAL_DEFAULTS } from '../../relay/local/local-defaults.ts';
import { parseRelayEnv, relayEnvSchema } from '../../relay/relay-config.ts';
import { jsonOf, relayctl } from './relayctl-process.ts';

interface SettingJson {
  readonly name: string;
  readonly value?: string | number;
  readonly source: string;
}

test('config lists every setting of the relay with its value and source', async () => {
  const settings = jsonOf<SettingJson[]>(await relayctl(['--json', 'config'], { env: { SUBMISSION_PORT: '3587', MAX_RECIPIENTS: '20' } }));
  assert.deepEqual(settings.map((setting) => setting.name), Object.keys(relayEnvSchema.shape), "the relay's own list, in its order");
  const byName = new Map(settings.map((setting) => [setting.name, setting]));
  assert.deepEqual(byName.get('SUBMISSION_PORT'), { name: 'SUBMISSION_PORT', value: 3587, source: 'environment' });
  assert.deepEqual(byName.get('MAX_RECIPIENTS'), { name: 'MAX_RECIPIENTS', value: 20, source: 'environment' });
  assert.deepEqual(byName.get('SUBMISSIONS_PORT'), { name: 'SUBMISSIONS_PORT', value: 2465, source: 'local default' });
  assert.deepEqual(byName.get('DEFAULT_MESSAGES_PER_MINUTE'), { name: 'DEFAULT_MESSAGES_PER_MINUTE', value: 120, source: 'default' });
  assert.deepEqual(byName.get('SES_CONFIGURATION_SET'), { name: 'SES_CONFIGURATION_SET', source: 'unset' });

  const human = await relayctl(['config'], { env: { SUBMISSION_PORT: '3587' } });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^SUBMISSION_PORT +3587 +\(environment\)$/m);
  assert.match(human.stdout, /^RELAY_LISTEN +127\.0\.0\.1 +\(local default\)$/m);
  assert.match(human.stdout, /^POLICY_CACHE_SECONDS +60 +\(default\)$/m);
  assert.equal(human.stdout.trimEnd().split('\n').length, settings.length, 'one line per setting');
});

test('config refuses a value the relay would refuse, with the same message', async () => {
  const run = await relayctl(['config'], { env: { MAX_RECIPIENTS: '51', SUBMISSION_PORT: 'x' } });
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  const relaySays = (() => {
    try {
      parseRelayEnv({ MAX_RECIPIENTS: '51', SUBMISSION_PORT: 'x' }, LOCAL_DEFAULTS);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('the relay took the settings');
  })();
  assert.equal(run.stderr, `relayctl: ${relaySays.replace(/\s*\n\s*/g, ' ')}\n`);
  assert.match(run.stderr, /SUBMISSION_PORT.*MAX_RECIPIENTS/);
});

test('config --stage shows the container of that stage: the values the CDK stack gives it, defaults for the rest', async () => {
  const settings = jsonOf<SettingJson[]>(await relayctl(['--json', '--stage', 'prod', 'config'], { env: { MAX_RECIPIENTS: '20' } }));
  const byName = new Map(settings.map((setting) => [setting.name, setting]));
  // From cdk.json's prod stage and lib/relay-container-settings.ts, which also writes the task definition.
  assert.deepEqual(byName.get('RELAY_HOSTNAME'), { name: 'RELAY_HOSTNAME', value: 'smtp.example.com', source: 'stage' });
  assert.deepEqual(byName.get('MAX_MESSAGE_BYTES'), { name: 'MAX_MESSAGE_BYTES', value: 26214400, source: 'stage' });
  assert.deepEqual(byName.get('SHUTDOWN_GRACE_SECONDS'), { name: 'SHUTDOWN_GRACE_SECONDS', value: 90, source: 'stage' });
  assert.deepEqual(byName.get('SES_CONFIGURATION_SET'), { name: 'SES_CONFIGURATION_SET', value: 'submission-relay-prod', source: 'stage' });
  assert.deepEqual(byName.get('RELAY_LISTEN'), { name: 'RELAY_LISTEN', value: '0.0.0.0', source: 'stage' });
  assert.deepEqual(byName.get('MAX_RECIPIENTS'), { name: 'MAX_RECIPIENTS', value: 50, source: 'default' }, "this shell's environment is not the container's");

  const unknown = await relayctl(['--stage', 'nowhere', 'config']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'relayctl: unknown stage "nowhere"; cdk.json defines: dev, prod\n');
});

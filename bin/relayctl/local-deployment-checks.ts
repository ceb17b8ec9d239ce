import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { CliError } from './cli-error.ts';
import { certificateExpiryCheck, describeFailure, type CheckResult } from './doctor-check.ts';
import { openLocalStore } from './store-connection.ts';

/** The local stack's listeners when SUBMISSION_PORT / SUBMISSIONS_PORT are not set (relay/local/local-stack.ts). */
const LOCAL_PORTS = { submission: 2587, submissions: 2465 };
const GREETING_TIMEOUT_MS = 3_000;

/**
 * What `npm start` needs on this machine, in the order a new user meets it:
 * the data dir, the store in it, the TLS certificate and key, and the two
 * listeners answering with an SMTP greeting. Settings come from the same
 * environment variables the local stack reads. Nothing is created or changed.
 */
export async function checkLocalDeployment(dataDir: string, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const dataDirOk = await checkDataDir(dataDir);
  results.push(dataDirOk);
  results.push(dataDirOk.status === 'fail' ? { check: 'store', status: 'fail', message: 'not checked: no usable data dir', fix: dataDirOk.fix! } : await checkStore(dataDir));
  const certPath = env.TLS_CERT_FILE || path.join(dataDir, 'tls', 'cert.pem');
  const keyPath = env.TLS_KEY_FILE || path.join(dataDir, 'tls', 'key.pem');
  results.push(...(await checkTls(certPath, keyPath)));
  const listen = env.RELAY_LISTEN || '127.0.0.1';
  // A wildcard listener is reached through loopback.
  const host = listen === '0.0.0.0' || listen === '::' ? '127.0.0.1' : listen;
  results.push(await checkListener('submission port', host, Number(env.SUBMISSION_PORT || LOCAL_PORTS.submission), false, 'SUBMISSION_PORT'));
  results.push(await checkListener('submissions port', host, Number(env.SUBMISSIONS_PORT || LOCAL_PORTS.submissions), true, 'SUBMISSIONS_PORT'));
  return results;
}

async function checkDataDir(dataDir: string): Promise<CheckResult> {
  const check = 'data dir';
  const found = await stat(dataDir).catch(() => undefined);
  if (!found) {
    return { check, status: 'fail', message: `${dataDir} does not exist`, fix: 'run npm start once (it creates it), or point RELAY_DATA_DIR at the right directory' };
  }
  if (!found.isDirectory()) return { check, status: 'fail', message: `${dataDir} is not a directory`, fix: 'point RELAY_DATA_DIR at a directory' };
  const writable = await access(dataDir, constants.W_OK).then(() => true, () => false);
  if (!writable) return { check, status: 'fail', message: `${dataDir} is not writable`, fix: `run as its owner, or chown the directory to this user` };
  return { check, status: 'ok', message: `${dataDir} exists and is writable` };
}

async function checkStore(dataDir: string): Promise<CheckResult> {
  const check = 'store';
  let connection;
  try {
    connection = await openLocalStore(dataDir, { create: false });
  } catch (error) {
    if (error instanceof CliError) return { check, status: 'fail', message: error.message, fix: 'run npm start once, or relayctl init, which create the store' };
    return { check, status: 'fail', message: `cannot open the store: ${describeFailure(error)}`, fix: 'see the message; is another program using the data dir?' };
  }
  try {
    const users = await connection.store.listUsers();
    if (users.length === 0) {
      return { check, status: 'warn', message: `${connection.description} is reachable, table ${connection.store.tableName} has no users`, fix: 'add one: relayctl user add you@example.org' };
    }
    return { check, status: 'ok', message: `${connection.description} is reachable, table ${connection.store.tableName} has ${users.length} user(s)` };
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') {
      return { check, status: 'fail', message: `${connection.description} has no table ${connection.store.tableName}`, fix: 'run npm start once, or relayctl init, which create it' };
    }
    return { check, status: 'fail', message: `${connection.description} did not answer: ${describeFailure(error)}`, fix: 'restart npm start' };
  } finally {
    await connection.close();
  }
}

async function checkTls(certPath: string, keyPath: string): Promise<CheckResult[]> {
  const makeOne = 'npm start makes a self-signed one on first start (delete both files to get a new one); or set TLS_CERT_FILE and TLS_KEY_FILE';
  const [certPem, keyPem] = await Promise.all([readFile(certPath).catch(() => undefined), readFile(keyPath).catch(() => undefined)]);
  if (!certPem) return [{ check: 'tls certificate', status: 'fail', message: `no certificate at ${certPath}`, fix: makeOne }];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    return [{ check: 'tls certificate', status: 'fail', message: `${certPath} is no PEM certificate: ${describeFailure(error)}`, fix: makeOne }];
  }
  const results = [certificateExpiryCheck('tls certificate', certificate.validTo, `renew ${certPath} (${makeOne})`)];
  if (!keyPem) return [...results, { check: 'tls key', status: 'fail', message: `no key at ${keyPath}`, fix: makeOne }];
  const mode = (await stat(keyPath)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    return [...results, { check: 'tls key', status: 'fail', message: `${keyPath} is readable by group or others (mode ${mode.toString(8)}); the relay refuses it`, fix: `chmod 600 ${keyPath}` }];
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(keyPem));
  } catch (error) {
    return [...results, { check: 'tls key', status: 'fail', message: `${keyPath} is no PEM private key: ${describeFailure(error)}`, fix: makeOne }];
  }
  if (!matches) return [...results, { check: 'tls key', status: 'fail', message: `${keyPath} is not the key of ${certPath}`, fix: makeOne }];
  return [...results, { check: 'tls key', status: 'ok', message: `${keyPath} belongs to the certificate and only its owner can read it` }];
}

/** Connects as a mail client would and expects the relay's 220 greeting (inside TLS on the implicit-TLS port). */
async function checkListener(check: string, host: string, port: number, implicitTls: boolean, setting: string): Promise<CheckResult> {
  const where = `${host}:${port}`;
  try {
    const greeting = await firstLine(host, port, implicitTls);
    if (!greeting.startsWith('220')) {
      return { check, status: 'fail', message: `${where} answers, but not as an SMTP server: "${greeting.slice(0, 80)}"`, fix: `another program holds the port: stop it, or set ${setting}` };
    }
    return { check, status: 'ok', message: `${where} greets: ${greeting.slice(0, 80)}` };
  } catch (error) {
    const refused = (error as { code?: string }).code === 'ECONNREFUSED';
    return {
      check,
      status: 'fail',
      message: refused ? `nothing listens on ${where}` : `${where}: ${describeFailure(error)}`,
      fix: refused ? `start the relay: npm start (or set ${setting} to where it listens)` : `check the relay's log; is ${setting} right?`,
    };
  }
}

function firstLine(host: string, port: number, implicitTls: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    // The local certificate is self-signed; this check is about the listener, not about trust.
    const socket = implicitTls ? tls.connect({ host, port, rejectUnauthorized: false }) : net.connect({ host, port });
    let received = '';
    const finish = (error: Error | undefined, line?: string) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(line!);
    };
    socket.setTimeout(GREETING_TIMEOUT_MS, () => finish(new Error(`no greeting within ${GREETING_TIMEOUT_MS / 1000} s`)));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(undefined, received.slice(0, end));
    });
    socket.once('error', (error) => finish(error));
    socket.once('end', () => finish(new Error('closed without a greeting')));
  });
}

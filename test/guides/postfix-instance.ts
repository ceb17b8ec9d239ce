import { spawn, type ChildProcess } from 'node:child_process';
import { access, appendFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeRun, runClient, type ClientRun } from './run-client.ts';

/**
 * The part of main.cf that makes a Postfix a throwaway for one test, before the
 * guide's own lines are added: queue, data and log under the test's directory,
 * no local delivery (everything goes to relayhost), IPv4 on loopback, and TLS
 * logging that says whether the relay's certificate was verified.
 */
function scaffoldMainCf(root: string): string {
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${root}/spool`,
    `data_directory = ${root}/lib`,
    `maillog_file = ${root}/maillog`,
    `maillog_file_prefixes = ${root}`,
    'inet_interfaces = loopback-only',
    'inet_protocols = ipv4',
    'mydestination =',
    'myhostname = client.test',
    'smtp_tls_loglevel = 1',
    '',
  ].join('\n');
}

/**
 * Debian's master.cf cut down to what a relaying client uses: no `inet` service
 * (mail comes in through `sendmail`, maildrop and pickup), so the instance
 * listens on no port at all and cannot collide with a system Postfix on port 25;
 * no local delivery agents. Nothing is chrooted, so it needs no copy of /etc in
 * its queue directory.
 */
const MASTER_CF = `
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`.trimStart();

/**
 * A second, private Postfix run as a smarthost client of the relay under test,
 * from the Debian package's binaries and the system's `postfix` user, but with
 * its own configuration directory (`postfix -c`), queue and log. It shares no
 * file with /etc/postfix, so a system Postfix (running or not) neither sees nor
 * disturbs it. Its master runs in the foreground (`start-fg`) as our child, so
 * `stop()` can wait for it to be gone. Needs root, as any Postfix does.
 */
export class PostfixInstance {
  readonly configDir: string;
  private master: ChildProcess | undefined;
  private masterExit: Promise<void> | undefined;
  private masterOutput = '';

  private constructor(readonly root: string) {
    this.configDir = path.join(root, 'etc');
  }

  static async create(root: string): Promise<PostfixInstance> {
    if (process.getuid?.() !== 0) throw new Error('a Postfix instance needs root (its master starts as root and drops to the postfix user)');
    const instance = new PostfixInstance(root);
    // Postfix's daemons run as the postfix user and must reach the queue.
    await mkdir(instance.configDir, { recursive: true });
    await mkdir(path.join(root, 'spool'));
    // Explicit modes: the test process's umask is 077 once it runs a local stack.
    for (const folder of [root, instance.configDir, path.join(root, 'spool')]) await chmod(folder, 0o755);
    await writeFile(path.join(instance.configDir, 'main.cf'), scaffoldMainCf(root));
    await writeFile(path.join(instance.configDir, 'master.cf'), MASTER_CF);
    for (const file of ['main.cf', 'master.cf']) await chmod(path.join(instance.configDir, file), 0o644);
    return instance;
  }

  /** main.cf lines the guide gives, added after the scaffold. */
  async addMainCf(lines: string): Promise<void> {
    await appendFile(path.join(this.configDir, 'main.cf'), lines);
  }

  /** Sets main.cf parameters as `postconf -e` does: each replaces any earlier line of the same name. */
  async postconf(lines: string): Promise<void> {
    const settings = lines.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    await this.mustRun('postconf', ['-c', this.configDir, '-e', ...settings]);
  }

  async writeConfigFile(name: string, text: string): Promise<string> {
    const file = path.join(this.configDir, name);
    await writeFile(file, text);
    return file;
  }

  /** Runs a shell snippet as an administrator of this instance would: MAIL_CONFIG points every Postfix command here. */
  shell(script: string): Promise<ClientRun> {
    return runClient('bash', ['-e', '-c', `umask 022\n${script}`], { cwd: this.root, env: { MAIL_CONFIG: this.configDir } });
  }

  async start(): Promise<void> {
    const env = { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin` };
    // The test process runs the local stack, which makes its own files owner-only (umask 077); Postfix's
    // queue directories must stay reachable by its unprivileged daemons, as on a machine of its own.
    const master = spawn('sh', ['-c', 'umask 022 && exec postfix -c "$0" start-fg', this.configDir], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.master = master;
    master.stdout.on('data', (chunk: Buffer) => (this.masterOutput += chunk.toString()));
    master.stderr.on('data', (chunk: Buffer) => (this.masterOutput += chunk.toString()));
    this.masterExit = new Promise((resolve) => {
      master.on('close', () => resolve());
      master.on('error', (error) => {
        this.masterOutput += `could not run postfix (is the postfix package installed?): ${error.message}\n`;
        resolve();
      });
    });
    let exited = false;
    void this.masterExit.then(() => (exited = true));

    // Ready when the master holds its pid lock and pickup's FIFO exists: mail
    // dropped before that would wait for pickup's 60-second scan.
    const deadline = Date.now() + 15_000;
    const pickup = path.join(this.root, 'spool', 'public', 'pickup');
    while (Date.now() < deadline && !exited) {
      const status = await runClient('postfix', ['-c', this.configDir, 'status']);
      const fifo = await access(pickup).then(() => true, () => false);
      if (status.code === 0 && fifo) return;
      await sleep(100);
    }
    throw new Error(`Postfix did not start${exited ? ' (its master exited)' : ''}\n${this.masterOutput}\n${await this.log()}`);
  }

  /** `postfix stop`, then waits until the master has exited; kills its process group if it will not. */
  async stop(): Promise<void> {
    const master = this.master;
    if (!master || !this.masterExit) return;
    this.master = undefined;
    await runClient('postfix', ['-c', this.configDir, 'stop']).catch(() => undefined);
    const stopped = await Promise.race([this.masterExit.then(() => true), sleep(10_000).then(() => false)]);
    if (!stopped && master.pid !== undefined) {
      try {
        process.kill(-master.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await this.masterExit;
    }
  }

  /** True while this instance's master holds its pid lock. */
  async running(): Promise<boolean> {
    return (await runClient('postfix', ['-c', this.configDir, 'status'])).code === 0;
  }

  async log(): Promise<string> {
    return readFile(path.join(this.root, 'maillog'), 'utf8').catch(() => '(no maillog)');
  }

  /** Waits until the mail log has a line matching `pattern`; returns it. */
  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = (await this.log()).split('\n').find((entry) => pattern.test(entry));
      if (line) return line;
      if (Date.now() > deadline) {
        const queue = await runClient('postqueue', ['-c', this.configDir, '-p']);
        throw new Error(`no log line matching ${pattern} within ${timeoutMs} ms\n${await this.log()}\npostqueue -p:\n${describeRun(queue)}`);
      }
      await sleep(100);
    }
  }

  private async mustRun(command: string, args: readonly string[]): Promise<ClientRun> {
    const run = await runClient(command, args);
    if (run.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${describeRun(run)}`);
    return run;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { RelayLog } from './relay-log.ts';
import { credentialsDigest, inspectCredentials, type CertificateFacts, type CertificateSource, type TlsCredentials } from './tls-credentials.ts';

const DAY_MS = 86_400_000;

export interface CertificateReloadOptions {
  readonly source: CertificateSource;
  readonly log: RelayLog;
  /** How often the source is read again. */
  readonly intervalMs: number;
}

/**
 * Keeps the relay's certificate current without a restart: reads the source
 * every `intervalMs` and, when it holds a different certificate that is usable
 * (key fits, parses), hands it to `apply`, which swaps the TLS context new
 * handshakes use. Open sessions are untouched: their TLS is already set up.
 * A source that fails or holds something unusable is logged and the
 * certificate in use stays: an expiring certificate is better than none, and
 * the CertificateDaysLeft alarm says so.
 */
export class CertificateReload {
  private current: { digest: string; facts: CertificateFacts };
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private apply: ((credentials: TlsCredentials) => void) | undefined;

  private constructor(
    private readonly options: CertificateReloadOptions,
    /** The certificate the relay starts with. */
    readonly credentials: TlsCredentials,
    facts: CertificateFacts,
  ) {
    this.current = { digest: credentialsDigest(credentials), facts };
  }

  /**
   * Reads the source once: a relay cannot start without a certificate. Throws
   * when the source holds none (an empty secret) or an unusable one.
   */
  static async load(options: CertificateReloadOptions): Promise<CertificateReload> {
    const credentials = await options.source.read();
    if (!credentials) {
      throw new Error(`no TLS certificate in ${options.source.description} yet: put one in (docs/deploying.md, "The TLS certificate")`);
    }
    const facts = inspectCredentials(credentials);
    options.log.info({ event: 'certificate', source: options.source.description, ...logged(facts) }, 'certificate loaded');
    return new CertificateReload(options, credentials, facts);
  }

  /**
   * Starts polling; `apply` installs a changed certificate for new connections
   * (sessions already in TLS keep theirs).
   */
  watch(apply: (credentials: TlsCredentials) => void): void {
    this.apply = apply;
    this.loop ??= this.poll();
  }

  /** Whole days until the certificate in use expires (negative once it has). */
  daysLeft(now = Date.now()): number {
    return Math.floor((this.current.facts.notAfter.getTime() - now) / DAY_MS);
  }

  /** Reads the source now; resolves once a changed certificate is applied or refused. */
  async check(): Promise<void> {
    const { source, log } = this.options;
    const apply = this.apply;
    if (!apply) return;
    let credentials: TlsCredentials | undefined;
    try {
      credentials = await source.read();
    } catch (error) {
      log.warn({ event: 'certificate-read-failed', source: source.description, err: describe(error) }, 'certificate source unreadable; keeping the certificate in use');
      return;
    }
    if (!credentials) return;
    const digest = credentialsDigest(credentials);
    if (digest === this.current.digest) return;
    let facts: CertificateFacts;
    try {
      facts = inspectCredentials(credentials);
      apply(credentials);
    } catch (error) {
      // Remember the refused pair so the same bad content is reported once, not on every poll.
      this.current = { digest, facts: this.current.facts };
      log.error({ event: 'certificate-refused', source: source.description, err: describe(error) }, 'new certificate refused; keeping the certificate in use');
      return;
    }
    const previous = this.current.facts;
    this.current = { digest, facts };
    log.info(
      { event: 'certificate-reloaded', source: source.description, previousFingerprint: previous.fingerprint, ...logged(facts) },
      'new certificate in use for new connections',
    );
  }

  /** Stops polling. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private async poll(): Promise<void> {
    for (;;) {
      try {
        await sleep(this.options.intervalMs, undefined, { signal: this.stop.signal, ref: false });
      } catch {
        return;
      }
      await this.check();
    }
  }
}

function logged(facts: CertificateFacts): Record<string, string> {
  return { fingerprint: facts.fingerprint, subject: facts.subject, notAfter: facts.notAfter.toISOString() };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

import { Resolver } from 'node:dns/promises';
import { SmtpError } from './smtp-error.ts';

export interface RecipientDomainCheckOptions {
  /** DNS servers (`host` or `host:port`); the system's when absent. */
  readonly servers?: readonly string[];
  readonly timeoutMs: number;
}

type Verdict = { readonly ok: true } | { readonly ok: false; readonly permanent: boolean; readonly why: string };

const POSITIVE_TTL_MS = 10 * 60_000;
const NEGATIVE_TTL_MS = 60_000;
const MAX_CACHED = 10_000;

/**
 * Postfix's reject_unknown_recipient_domain: a recipient whose domain cannot
 * receive mail is refused at RCPT, where the client still learns it, instead
 * of becoming an SES bounce later. A domain can receive mail when it has MX
 * records other than a null MX (RFC 7505), or, without MX, an address record
 * (RFC 5321 5.1 implicit MX). A DNS failure is temporary (450), a domain that
 * does not exist or says it takes no mail is permanent (550).
 */
export class RecipientDomainCheck {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, { verdict: Verdict; until: number }>();

  constructor(options: RecipientDomainCheckOptions) {
    this.resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
    if (options.servers?.length) this.resolver.setServers([...options.servers]);
  }

  /** Undefined when the domain can receive mail; the refusal otherwise. */
  async check(address: string, domain: string): Promise<SmtpError | undefined> {
    const verdict = await this.verdict(domain);
    if (verdict.ok) return undefined;
    return verdict.permanent
      ? new SmtpError(550, '5.1.2', `<${address}>: Recipient address rejected: ${verdict.why}`, undefined, 'rcpt-domain')
      : new SmtpError(450, '4.1.2', `<${address}>: Recipient address rejected: ${verdict.why}`, undefined, 'rcpt-domain-tempfail');
  }

  private async verdict(domain: string): Promise<Verdict> {
    const cached = this.cache.get(domain);
    if (cached && cached.until > Date.now()) return cached.verdict;
    const verdict = await this.lookup(domain);
    if (verdict.ok || verdict.permanent) {
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(domain, { verdict, until: Date.now() + (verdict.ok ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS) });
    }
    return verdict;
  }

  private async lookup(domain: string): Promise<Verdict> {
    try {
      const mx = await this.resolver.resolveMx(domain);
      const nullMx = mx.length === 1 && (mx[0]?.exchange === '' || mx[0]?.exchange === '.');
      if (mx.length > 0 && !nullMx) return { ok: true };
      if (nullMx) return { ok: false, permanent: true, why: 'Domain does not accept mail' };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENOTFOUND') return { ok: false, permanent: true, why: 'Domain not found' };
      if (code !== 'ENODATA') return { ok: false, permanent: false, why: 'Domain not found (temporary DNS failure)' };
    }
    const addresses = await Promise.allSettled([this.resolver.resolve4(domain), this.resolver.resolve6(domain)]);
    if (addresses.some((result) => result.status === 'fulfilled' && result.value.length > 0)) return { ok: true };
    const temporary = addresses.some(
      (result) => result.status === 'rejected' && !['ENODATA', 'ENOTFOUND'].includes((result.reason as { code?: string }).code ?? ''),
    );
    return temporary
      ? { ok: false, permanent: false, why: 'Domain not found (temporary DNS failure)' }
      : { ok: false, permanent: true, why: 'Domain has no mail exchanger' };
  }
}

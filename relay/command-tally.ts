/**
 * Commands of one session, counted the way Postfix's smtpd counts them for its
 * `disconnect` line: per command, how many got a success reply of how many
 * were given. `ehlo=1 starttls=1 auth=0/1 quit=1 commands=3/4` tells at a
 * glance how far a client got and where it was refused.
 */
export class CommandTally {
  private readonly counts = new Map<string, { ok: number; total: number }>();

  /** Counts a command by its verb; anything outside the SMTP verbs we know counts as `unknown`. */
  record(verb: string, succeeded: boolean): void {
    const name = TALLIED_VERBS.includes(verb.toLowerCase()) ? verb.toLowerCase() : 'unknown';
    const count = this.counts.get(name) ?? { ok: 0, total: 0 };
    count.total += 1;
    if (succeeded) count.ok += 1;
    this.counts.set(name, count);
  }

  /** `{ ehlo: '1', auth: '0/1', commands: '1/2' }`: for the JSON log. */
  toFields(): Record<string, string> {
    const fields: Record<string, string> = {};
    let ok = 0;
    let total = 0;
    for (const name of [...TALLIED_VERBS, 'unknown']) {
      const count = this.counts.get(name);
      if (!count) continue;
      fields[name] = ratio(count.ok, count.total);
      ok += count.ok;
      total += count.total;
    }
    // Postfix writes commands=0/0 for a client that said nothing at all.
    fields.commands = total === 0 ? '0/0' : ratio(ok, total);
    return fields;
  }

  /** `ehlo=1 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=7`, as Postfix writes it. */
  summary(): string {
    return Object.entries(this.toFields())
      .map(([name, value]) => `${name}=${value}`)
      .join(' ');
  }
}

/** In Postfix's order (smtpd_cmd_table); the session gate refuses the last ones, and they are still counted by name. */
const TALLIED_VERBS: readonly string[] = [
  'helo', 'ehlo', 'starttls', 'auth', 'mail', 'rcpt', 'data', 'bdat', 'rset', 'noop', 'vrfy', 'etrn', 'expn', 'help', 'quit',
];

function ratio(ok: number, total: number): string {
  return ok === total ? String(ok) : `${ok}/${total}`;
}

/**
 * Concurrent sessions per client address (Postfix anvil's
 * smtpd_client_connection_count_limit): one address may not hold more than
 * its share of a task's sessions.
 */
export class ClientConnections {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerAddress: number) {}

  /** Counts a new session; false (and nothing counted) when the address is at its limit. */
  admit(address: string): boolean {
    const current = this.open.get(address) ?? 0;
    if (current >= this.maxPerAddress) return false;
    this.open.set(address, current + 1);
    return true;
  }

  release(address: string): void {
    const current = this.open.get(address) ?? 0;
    if (current <= 1) this.open.delete(address);
    else this.open.set(address, current - 1);
  }
}

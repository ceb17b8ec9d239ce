/** Longest piece of client text a reply or log line repeats. */
const MAX_ECHO = 255;

/**
 * Client text as a reply or a log line may repeat it: every character outside
 * printable ASCII becomes `?` (as Postfix prints a name it refuses), and it is
 * cut to a bounded length. The client learns what was refused; nothing it sent
 * can break a reply line, a log line or a terminal.
 */
export function printableEcho(text: string): string {
  const printable = Array.from(text, (char) => (/^[\x20-\x7e]$/.test(char) ? char : '?')).join('');
  return printable.length > MAX_ECHO ? `${printable.slice(0, MAX_ECHO)}...` : printable;
}

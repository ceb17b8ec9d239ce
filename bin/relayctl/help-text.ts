/** The "Examples:" block appended to a command's `--help`. */
export function examples(...commands: readonly string[]): string {
  return `\nExamples:\n${commands.map((command) => `  $ ${command}`).join('\n')}\n`;
}

/**
 * For commands that take something away: how soon running relays apply it
 * (relay/change-feed.ts), and an operator should know.
 */
export const REVOCATION_NOTE = `
Every running relay applies this within its REVOCATION_BOUND_SECONDS (5 s by default),
to new logins and to sessions already open (at their next MAIL FROM, and before a
message in flight is handed to SES).
`;

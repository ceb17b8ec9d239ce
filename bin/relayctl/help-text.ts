/** The "Examples:" block appended to a command's `--help`. */
export function examples(...commands: readonly string[]): string {
  return `\nExamples:\n${commands.map((command) => `  $ ${command}`).join('\n')}\n`;
}

/**
 * For commands that take something away: the relay remembers permits for a
 * while (relay/caching-policy-client.ts), and an operator should know.
 */
export const CACHE_NOTE = `
A running relay may still accept what it permitted within its POLICY_CACHE_SECONDS
(60 s by default), until that time has passed.
`;

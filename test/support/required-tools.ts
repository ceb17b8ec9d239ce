import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Tests that drive an outside program (swaks, doveadm, Postfix, MariaDB, ...)
 * need it installed. On a machine without it they skip, and the skip names the
 * Debian package to install; `npm test` stays green with only Node.
 *
 * CI exports REQUIRE_TEST_TOOLS=1 (.ci/run): then a missing program throws
 * instead, which fails the test file or suite that asked, so that CI can never
 * pass by skipping these tests quietly.
 *
 * `tools` maps each command to its Debian package. Returns the skip reason for
 * node:test's `skip` option, or false when every command is there.
 */
export function requireTools(tools: Readonly<Record<string, string>>): string | false {
  const missing = Object.entries(tools).filter(([command]) => !onPath(command));
  if (missing.length === 0) return false;
  const commands = missing.map(([command]) => command).join(', ');
  const packages = [...new Set(missing.map(([, debianPackage]) => debianPackage))].join(' ');
  const reason = `${commands} not installed: apt-get install ${packages}`;
  if (process.env.REQUIRE_TEST_TOOLS === '1') throw new Error(`${reason} (REQUIRE_TEST_TOOLS=1 forbids skipping)`);
  return reason;
}

/** One command and its Debian package: `requireTool('mkpasswd', 'whois')`. */
export function requireTool(command: string, debianPackage: string): string | false {
  return requireTools({ [command]: debianPackage });
}

/**
 * Found as the tests will run it: on PATH. Debian puts Postfix's and MariaDB's
 * daemons in /usr/sbin, which root's PATH has (CI runs as root).
 */
function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

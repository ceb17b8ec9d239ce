/**
 * `npm run test:faults`: plays every fault scenario (the same list the fault
 * tests run) and prints the table: per fault, messages, submission attempts,
 * what the client was told, what was lost and what SES holds twice. Exits
 * non-zero if anything was lost or a scenario's checks failed.
 */
import { FAULT_SCENARIOS } from './fault-scenarios.ts';
import { formatTable, type LedgerRow } from './fault-ledger.ts';

// The SDK's notice that it will drop Node 20 is noise in a report; an explicit setting still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const rows: Array<{ fault: string; row: LedgerRow | undefined }> = [];
const problems: string[] = [];
const duplicates: string[] = [];
const started = performance.now();

for (const scenario of FAULT_SCENARIOS) {
  process.stderr.write(`  ${scenario.fault} ... `);
  try {
    const played = await scenario.play();
    rows.push({ fault: scenario.fault, row: played.row });
    try {
      scenario.check(played);
      process.stderr.write(`ok (${played.ms} ms)\n`);
    } catch (error) {
      process.stderr.write('CHECK FAILED\n');
      problems.push(`${scenario.fault}: ${(error as Error).message}`);
    }
    for (const loss of played.row.losses) problems.push(`${scenario.fault}: LOST ${loss}`);
    if (played.row.duplicated > 0 || played.row.duplicateRisks.length > 0 || scenario.duplicateNote) {
      const seen = [
        ...(played.row.duplicated > 0 ? [`${played.row.duplicated} message(s) held twice by SES in this run`] : []),
        ...played.row.duplicateRisks,
      ];
      duplicates.push(`- ${scenario.fault}: ${scenario.duplicateNote ?? ''}${seen.length ? `\n    seen: ${seen.join('; ')}` : ''}`);
    }
  } catch (error) {
    process.stderr.write('FAILED TO RUN\n');
    rows.push({ fault: scenario.fault, row: undefined });
    problems.push(`${scenario.fault}: did not run: ${(error as Error).stack ?? String(error)}`);
  }
}

const lost = rows.reduce((sum, { row }) => sum + (row?.lost ?? 0), 0);
process.stdout.write(
  [
    '',
    'Fault table (an attempt is one SMTP transaction; a client retries a message after a 4xx or no reply)',
    '',
    formatTable(rows),
    '',
    'lost: told 250 but SES holds no such message, or SES holds a message whose client was not told 250 and will not retry (5xx).',
    'duplicated: messages SES holds more than once.',
    '',
    'Where a duplicate is still possible:',
    ...(duplicates.length ? duplicates : ['- nowhere in these scenarios']),
    '- Not provoked above, same cause: the relay task killed outright (SIGKILL, host lost) or the client connection',
    '  dropped after SES accepted a message and before the 250 reached the client. The client retries a message SES',
    '  holds; without an idempotency key on SES SendEmail nothing on our side can close this window.',
    '',
    `${FAULT_SCENARIOS.length} scenarios in ${((performance.now() - started) / 1000).toFixed(1)} s; lost: ${lost}`,
    ...(problems.length ? ['', 'PROBLEMS:', ...problems.map((p) => `- ${p}`)] : []),
    '',
  ].join('\n'),
);
process.exitCode = lost > 0 || problems.length > 0 ? 1 : 0;

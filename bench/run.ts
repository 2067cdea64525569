/**
 * All benchmarks, one after the other (`npm run bench`). Each prints its tables and JSON line as when
 * run alone; the last line is one JSON object holding every result. Missed targets are reported, not
 * turned into an exit code: the figures belong in docs/performance.md, not in a red build.
 */
import { printExceptionBundle, runExceptionBundle } from './exception-bundle';
import { printJsonLine } from './harness';
import { printStartup, runStartup } from './startup';

async function main(): Promise<void> {
  const startup = runStartup();
  printStartup(startup);
  printJsonLine(startup);

  const exceptionBundle = await runExceptionBundle();
  printExceptionBundle(exceptionBundle);
  printJsonLine(exceptionBundle);

  console.log(
    `\nsummary: start-up +${startup.addedMs} ms (target <= ${startup.targetMs}: ${startup.met ? 'met' : 'MISSED'}); ` +
      `exception bundle warm ${exceptionBundle.warm.rest.median} ms, cold ${exceptionBundle.cold.monitor.median} ms ` +
      `(target <= ${exceptionBundle.targetMs}: warm ${exceptionBundle.warmMet ? 'met' : 'MISSED'}, cold ${exceptionBundle.coldMet ? 'met' : 'MISSED'}); ` +
      `ours/anchor ${exceptionBundle.crashToExit.ratioAdded}x`,
  );
  printJsonLine({ bench: 'all', results: [startup, exceptionBundle] });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});

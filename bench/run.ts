/**
 * All benchmarks, one after the other (`npm run bench`). Each prints its tables and JSON line as when
 * run alone; the last line is one JSON object holding every result. Missed targets are reported, not
 * turned into an exit code: the figures belong in docs/performance.md, not in a red build.
 * The heap engine benchmark takes ~13 minutes and several GB of memory and disk: it runs only with
 * `--heap` or BENCH_HEAP=1 (`npm run bench -- --heap`).
 */
import { printExceptionBundle, runExceptionBundle } from './exception-bundle';
import { printHang, runHang } from './hang';
import { printJsonLine } from './harness';
import { printHeap, runHeap, type HeapResult } from './heap';
import { printStartup, runStartup } from './startup';

async function main(): Promise<void> {
  const startup = runStartup();
  printStartup(startup);
  printJsonLine(startup);

  const exceptionBundle = await runExceptionBundle();
  printExceptionBundle(exceptionBundle);
  printJsonLine(exceptionBundle);

  const hang = await runHang();
  printHang(hang);
  printJsonLine(hang);

  let heap: HeapResult | undefined;
  if (process.argv.includes('--heap') || process.env.BENCH_HEAP === '1') {
    heap = await runHeap();
    printHeap(heap);
    printJsonLine(heap);
  }

  const ours = hang.variants.find((v) => v.name === 'ours')!;
  console.log(
    `\nsummary: start-up +${startup.addedMs} ms (target <= ${startup.targetMs}: ${startup.met ? 'met' : 'MISSED'}); ` +
      `exception bundle warm ${exceptionBundle.warm.rest.median} ms, cold ${exceptionBundle.cold.monitor.median} ms ` +
      `(target <= ${exceptionBundle.targetMs}: warm ${exceptionBundle.warmMet ? 'met' : 'MISSED'}, cold ${exceptionBundle.coldMet ? 'met' : 'MISSED'}); ` +
      `ours/anchor ${exceptionBundle.crashToExit.ratioAdded}x; ` +
      `hang: lag max ${Math.max(...hang.variants.filter((v) => !v.name.startsWith('anchor')).map((v) => v.lagMs.max))} ms (target <= ${hang.targets.lagMs}: ${hang.lagMet ? 'met' : 'MISSED'}), ` +
      `capture ${ours.captureMs.median} ms (target <= ${hang.targets.captureMs}: ${hang.captureMet ? 'met' : 'MISSED'}), ` +
      `RSS +${hang.memory.hookAddedMb[0]} MB (target <= ${hang.targets.rssMb}: ${hang.rssMet ? 'met' : 'MISSED'}); ` +
      `ours/anchor capture ${hang.ratios.capture}x, with ${hang.extraScripts} scripts ${hang.ratios.captureScripts}x`,
  );
  if (heap) {
    const speed = heap.comparisons.filter((c) => c.ratios).map((c) => `${c.snapshot.label} ${c.ratios!.wall}x`).join(', ');
    console.log(`heap: memlab/ours wall ${speed || '(no anchor)'} (target >= ${heap.targets.speedup}x); ` +
      `our RSS/file ${heap.comparisons.filter((c) => c.snapshot.kind === 'synthetic').map((c) => c.ours.rssPerFile).join(', ')} (target <= ${heap.targets.rssPerFile})`);
  } else console.log('heap: not run (add --heap or BENCH_HEAP=1; it takes ~13 minutes)');
  printJsonLine({ bench: 'all', results: heap ? [startup, exceptionBundle, hang, heap] : [startup, exceptionBundle, hang] });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});

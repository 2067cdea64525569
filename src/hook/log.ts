import { writeSync } from 'node:fs';

/**
 * The hook's only voice: one line on stderr, written synchronously (the process may be about to die),
 * never throwing. Newlines and control characters in the message are flattened so that it stays one line.
 */
export function hookLog(message: string): void {
  try {
    const line = `autopsy-ts: ${String(message).replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ')}\n`;
    writeSync(2, line);
  } catch {
    // stderr closed (EPIPE, EBADF): nothing else to tell anyone.
  }
}

/** A failure of the hook itself: one line, never thrown into the app. */
export function hookFailure(what: string, err: unknown): void {
  let why: string;
  try {
    why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    why = 'unknown error';
  }
  hookLog(`${what} failed: ${why}`);
}

/**
 * The last AUTOPSY_TAIL bytes (64 KB by default) that the app wrote to process.stdout and process.stderr.
 * Strings are kept by reference (no copy); buffers are decoded, at most `limit` bytes of each.
 * Output written to fd 1 or 2 directly (pino's sonic-boom, fs.writeSync(1, ...)) is not seen.
 */

export interface Tail {
  chunks: string[];
  length: number;
  /** Characters that fell out of the window. */
  dropped: number;
  /** Index into chunks of the first chunk not yet persisted, and the characters of it already written. */
  unsaved: number;
}

const tails: Record<'stdout' | 'stderr', Tail | undefined> = { stdout: undefined, stderr: undefined };
let limit = 0;

/** Pure: appends a chunk and trims from the front so that at most `max` characters remain (plus one chunk). */
export function keep(t: Tail, text: string, max: number): void {
  if (!text) return;
  if (text.length > max) {
    t.dropped += text.length - max;
    text = text.slice(text.length - max);
  }
  t.chunks.push(text);
  t.length += text.length;
  while (t.chunks.length > 1 && t.length - t.chunks[0].length >= max) {
    const first = t.chunks.shift()!;
    t.length -= first.length;
    t.dropped += first.length;
    if (t.unsaved > 0) t.unsaved--;
  }
}

function asText(chunk: unknown): string {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof Uint8Array) {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    return b.subarray(Math.max(0, b.length - limit)).toString('utf8');
  }
  return '';
}

export function startTail(bytes: number): void {
  limit = bytes;
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name] as NodeJS.WriteStream;
    const original = stream.write;
    if (typeof original !== 'function') continue;
    const tail: Tail = { chunks: [], length: 0, dropped: 0, unsaved: 0 };
    tails[name] = tail;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      try {
        keep(tail, asText(chunk), limit);
      } catch {
        // keeping a copy must never stop the write
      }
      return (original as (...a: unknown[]) => boolean).apply(this, [chunk, ...rest]);
    } as typeof stream.write;
  }
}

/** The tails for a bundle's stdio.json, or undefined when the tail is off. */
export function tailSnapshot(): Record<string, { text: string; dropped: number }> | undefined {
  if (!tails.stdout && !tails.stderr) return undefined;
  const out: Record<string, { text: string; dropped: number }> = {};
  for (const name of ['stdout', 'stderr'] as const) {
    const t = tails[name];
    if (t) out[name] = { text: t.chunks.join(''), dropped: t.dropped };
  }
  return out;
}

/** Output written since the last call, for the persisted recorder (recorder-file.ts). */
export function drainUnsaved(): { stream: 'stdout' | 'stderr'; text: string }[] {
  const out: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  for (const name of ['stdout', 'stderr'] as const) {
    const t = tails[name];
    if (!t || t.unsaved >= t.chunks.length) continue;
    out.push({ stream: name, text: t.chunks.slice(t.unsaved).join('') });
    t.unsaved = t.chunks.length;
  }
  return out;
}

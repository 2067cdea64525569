/** Native frames from `gdb -batch -ex bt` output. Pure. */
export interface NativeFrame {
  index: number;
  pc?: string;
  function: string;
  file?: string;
  line?: number;
  /** The shared object, when gdb names it ("from /lib/x86_64-linux-gnu/libc.so.6"). */
  library?: string;
}

// #3  0x0000000000bbbbe6 in node::SpinEventLoopInternal(node::Environment*) ()
// #0  __GI_epoll_pwait (epfd=14, ...) at ../sysdeps/unix/sysv/linux/epoll_pwait.c:40
// #5  0x00007f.. in start_thread () from /lib/x86_64-linux-gnu/libc.so.6
const FRAME_RE = /^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(.+?)(?: at (\S+):(\d+)| from (\S+))?\s*$/;

export function parseGdbBacktrace(text: string): NativeFrame[] {
  const frames: NativeFrame[] = [];
  for (const line of text.split('\n')) {
    const m = FRAME_RE.exec(line.trimEnd());
    if (!m) continue;
    // gdb prints the current frame once when it loads the core, then `bt` starts again at #0.
    if (Number(m[1]) === 0) frames.length = 0;
    const fn = stripArgs(m[3]);
    frames.push({ index: Number(m[1]), pc: m[2], function: fn, file: m[4], line: m[5] ? Number(m[5]) : undefined, library: m[6] });
  }
  return frames;
}

/** "f (a=1, b=<optimized out>)" -> "f"; keeps C++ signatures "ns::f(int)" whole. */
function stripArgs(s: string): string {
  const t = s.trim();
  if (t.endsWith(' ()')) return t.slice(0, -3);
  const i = t.indexOf(' (');
  return i > 0 ? t.slice(0, i) : t;
}

import { readFileSync, readlinkSync } from 'node:fs';

/**
 * What a thread is doing, read from /proc from ANOTHER thread while it is blocked: the state letter
 * from stat, the system call and its arguments from syscall, and the kernel wait channel. None of
 * this needs the blocked thread's cooperation, so it works where every in-process method waits.
 */
export interface ThreadProbe {
  tid: number;
  /** R running, S sleeping, D uninterruptible, T stopped, Z zombie, ... */
  state?: string;
  stateName?: string;
  /** 'running' when the thread is on a CPU (JS or native code), else the system call it sits in. */
  syscall?: { number: number; name: string; args: string[] } | 'running';
  wchan?: string;
  /** fd arguments of the system call, resolved through /proc/self/fd. */
  fds?: { fd: number; target: string }[];
  /** Child processes the thread may be waiting for (execSync, spawnSync). */
  children?: { pid: number; command: string }[];
  /** One line that names the block: "futex (Atomics.wait or a lock)", "epoll_wait (spawnSync ...)", "running". */
  summary: string;
  problems?: string[];
}

const STATE_NAMES: Record<string, string> = {
  R: 'running',
  S: 'sleeping',
  D: 'uninterruptible sleep (disk or NFS I/O)',
  T: 'stopped',
  t: 'traced',
  Z: 'zombie',
  X: 'dead',
  I: 'idle',
};

/** x86_64 system call numbers that a blocked Node main thread is likely to sit in. */
const X64: Record<number, string> = {
  0: 'read', 1: 'write', 2: 'open', 3: 'close', 4: 'stat', 5: 'fstat', 6: 'lstat', 7: 'poll', 8: 'lseek', 9: 'mmap',
  16: 'ioctl', 17: 'pread64', 18: 'pwrite64', 19: 'readv', 20: 'writev', 23: 'select', 24: 'sched_yield', 34: 'pause',
  35: 'nanosleep', 42: 'connect', 43: 'accept', 44: 'sendto', 45: 'recvfrom', 46: 'sendmsg', 47: 'recvmsg', 56: 'clone',
  57: 'fork', 58: 'vfork', 59: 'execve', 61: 'wait4', 72: 'fcntl', 73: 'flock', 74: 'fsync', 75: 'fdatasync',
  76: 'truncate', 77: 'ftruncate', 78: 'getdents', 82: 'rename', 83: 'mkdir', 87: 'unlink', 128: 'rt_sigtimedwait',
  130: 'rt_sigsuspend', 202: 'futex', 217: 'getdents64', 230: 'clock_nanosleep', 232: 'epoll_wait', 247: 'waitid',
  257: 'openat', 262: 'newfstatat', 270: 'pselect6', 271: 'ppoll', 281: 'epoll_pwait', 288: 'accept4', 295: 'preadv',
  296: 'pwritev', 318: 'getrandom', 332: 'statx', 435: 'clone3', 441: 'epoll_pwait2',
};

/** arm64 (asm-generic) numbers for the same calls. */
const ARM64: Record<number, string> = {
  17: 'getcwd', 22: 'epoll_pwait', 25: 'fcntl', 29: 'ioctl', 32: 'flock', 35: 'unlinkat', 56: 'openat', 57: 'close',
  61: 'getdents64', 62: 'lseek', 63: 'read', 64: 'write', 65: 'readv', 66: 'writev', 67: 'pread64', 68: 'pwrite64',
  72: 'pselect6', 73: 'ppoll', 79: 'newfstatat', 80: 'fstat', 82: 'fsync', 83: 'fdatasync', 98: 'futex',
  101: 'nanosleep', 115: 'clock_nanosleep', 124: 'sched_yield', 137: 'rt_sigtimedwait', 202: 'accept', 203: 'connect',
  206: 'sendto', 207: 'recvfrom', 211: 'sendmsg', 212: 'recvmsg', 220: 'clone', 221: 'execve', 242: 'accept4',
  260: 'wait4', 278: 'getrandom', 291: 'statx', 435: 'clone3', 441: 'epoll_pwait2',
};

/** Calls whose first argument is a file descriptor worth resolving. */
const FD_FIRST = new Set(['read', 'write', 'pread64', 'pwrite64', 'readv', 'writev', 'preadv', 'pwritev', 'fstat', 'fsync', 'fdatasync', 'flock', 'fcntl', 'ioctl', 'connect', 'accept', 'accept4', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'lseek', 'getdents', 'getdents64', 'ftruncate', 'close']);

const HINTS: Record<string, string> = {
  futex: 'Atomics.wait, or a lock in native code',
  epoll_wait: 'a nested event loop: execSync/spawnSync waiting for a child, or a native addon',
  epoll_pwait: 'a nested event loop: execSync/spawnSync waiting for a child, or a native addon',
  epoll_pwait2: 'a nested event loop: execSync/spawnSync waiting for a child, or a native addon',
  wait4: 'waiting for a child process',
  waitid: 'waiting for a child process',
  read: 'a synchronous read',
  pread64: 'a synchronous file read (fs.readFileSync?)',
  write: 'a synchronous write (a full pipe or a slow terminal?)',
  openat: 'opening a file (a dead network mount?)',
  open: 'opening a file (a dead network mount?)',
  newfstatat: 'fs.statSync (a dead network mount?)',
  statx: 'fs.statSync (a dead network mount?)',
  fsync: 'fs.fsyncSync',
  fdatasync: 'fs.fdatasyncSync',
  flock: 'waiting for a file lock',
  connect: 'a synchronous connect',
  nanosleep: 'a sleep in native code',
  clock_nanosleep: 'a sleep in native code',
  poll: 'waiting on file descriptors in native code',
  ppoll: 'waiting on file descriptors in native code',
};

export function syscallName(n: number, arch: string = process.arch): string {
  const table = arch === 'arm64' ? ARM64 : X64;
  return table[n] ?? `syscall ${n}`;
}

/** Pure: the state letter from the text of /proc/<pid>/task/<tid>/stat (the comm field may hold spaces and parens). */
export function parseStatState(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = stat.slice(close + 2);
  return rest[0];
}

/** Pure: /proc/<pid>/task/<tid>/syscall is "running", "-1 sp pc" (blocked outside a call) or "nr a0..a5 sp pc" in hex. */
export function parseSyscall(text: string, arch: string = process.arch): ThreadProbe['syscall'] | undefined {
  const t = text.trim();
  if (!t) return undefined;
  if (t === 'running') return 'running';
  const parts = t.split(/\s+/);
  const n = Number(parts[0]);
  if (!Number.isInteger(n) || n < 0) return undefined;
  return { number: n, name: syscallName(n, arch), args: parts.slice(1, 7) };
}

export function describeBlock(p: Pick<ThreadProbe, 'state' | 'syscall' | 'fds' | 'children' | 'wchan'>): string {
  if (p.syscall === 'running' || (p.state === 'R' && !p.syscall)) return 'running (JS or native code on the CPU)';
  if (p.syscall && typeof p.syscall === 'object') {
    const name = p.syscall.name;
    const hint = HINTS[name];
    const fd = p.fds?.[0] ? ` on ${p.fds[0].target}` : '';
    const child = p.children?.length ? `; child ${p.children.map((c) => `${c.pid} (${c.command})`).join(', ')}` : '';
    return `${name}${fd}${hint ? ` (${hint})` : ''}${child}`;
  }
  if (p.state) return STATE_NAMES[p.state] ?? p.state;
  return 'unknown';
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads /proc for one thread of this process. Never throws; what could not be read goes into problems. */
export function probeThread(tid: number = process.pid): ThreadProbe {
  const base = `/proc/self/task/${tid}`;
  const probe: ThreadProbe = { tid, summary: 'unknown' };
  const problems: string[] = [];
  if (process.platform !== 'linux') {
    probe.summary = `thread state is not available on ${process.platform}`;
    return probe;
  }
  const stat = read(`${base}/stat`);
  if (stat) {
    probe.state = parseStatState(stat);
    if (probe.state) probe.stateName = STATE_NAMES[probe.state] ?? probe.state;
  } else problems.push(`${base}/stat unreadable`);
  const sc = read(`${base}/syscall`);
  if (sc !== undefined) probe.syscall = parseSyscall(sc);
  else problems.push(`${base}/syscall unreadable (ptrace restrictions?)`);
  const wchan = read(`${base}/wchan`);
  if (wchan && wchan !== '0') probe.wchan = wchan.trim();
  if (probe.syscall && typeof probe.syscall === 'object' && FD_FIRST.has(probe.syscall.name)) {
    const fd = Number.parseInt(probe.syscall.args[0] ?? '', 16);
    if (Number.isInteger(fd) && fd >= 0 && fd < 1 << 20) {
      try {
        probe.fds = [{ fd, target: readlinkSync(`/proc/self/fd/${fd}`) }];
      } catch {
        problems.push(`fd ${fd} could not be resolved`);
      }
    }
  }
  const children = read(`${base}/children`);
  if (children?.trim()) {
    probe.children = children
      .trim()
      .split(/\s+/)
      .slice(0, 5)
      .map((p) => ({ pid: Number(p), command: (read(`/proc/${p}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ').slice(0, 200) }));
  }
  probe.summary = describeBlock(probe);
  if (problems.length) probe.problems = problems;
  return probe;
}

import { readFileSync } from 'node:fs';

/**
 * May we take a heap snapshot without getting the host (or the container) killed by it?
 * Measured on Node 20 (docs/performance.md): writing a snapshot raised peak RSS by 12-15x heapUsed
 * (191 MB heapUsed: +2.8 GB) and took ~0.2 s per MB of heapUsed. Node's docs say "about twice";
 * nodejs/node#50711 and #56207 are containers killed by exactly that difference.
 */
export const SNAPSHOT_RSS_FACTOR = 16;
export const SNAPSHOT_MS_PER_MB = 250;

export interface MemoryRoom {
  /** Bytes the kernel says can be allocated without swapping (MemAvailable). */
  available?: number;
  /** Bytes left under the cgroup limit, when there is one. */
  cgroupLeft?: number;
  cgroupLimit?: number;
}

export interface HeadroomVerdict {
  ok: boolean;
  needBytes: number;
  roomBytes?: number;
  expectedMs: number;
  /** One line: why it was skipped, or what it will cost. */
  reason: string;
}

const MB = 1024 * 1024;

/** Pure: the decision, from heapUsed and what is free. */
export function snapshotHeadroom(heapUsed: number, room: MemoryRoom, maxMs: number): HeadroomVerdict {
  const needBytes = Math.ceil(heapUsed * SNAPSHOT_RSS_FACTOR);
  const expectedMs = Math.round((heapUsed / MB) * SNAPSHOT_MS_PER_MB);
  const limits = [room.available, room.cgroupLeft].filter((v): v is number => typeof v === 'number');
  const roomBytes = limits.length ? Math.min(...limits) : undefined;
  const mb = (n: number) => `${Math.round(n / MB)} MB`;
  if (roomBytes === undefined) return { ok: false, needBytes, expectedMs, reason: 'free memory is unknown on this platform; not risking a snapshot' };
  if (roomBytes < needBytes) {
    const where = room.cgroupLeft !== undefined && room.cgroupLeft === roomBytes ? `left under the cgroup limit of ${mb(room.cgroupLimit ?? 0)}` : 'available';
    return { ok: false, needBytes, roomBytes, expectedMs, reason: `a snapshot needs about ${mb(needBytes)} (${SNAPSHOT_RSS_FACTOR} x heapUsed ${mb(heapUsed)}), only ${mb(roomBytes)} ${where}` };
  }
  if (expectedMs > maxMs) {
    return { ok: false, needBytes, roomBytes, expectedMs, reason: `a snapshot of ${mb(heapUsed)} heapUsed would take about ${Math.round(expectedMs / 1000)} s, over the ${Math.round(maxMs / 1000)} s bound` };
  }
  return { ok: true, needBytes, roomBytes, expectedMs, reason: `about ${mb(needBytes)} of ${mb(roomBytes)} free, about ${Math.round(expectedMs / 1000)} s` };
}

function readNumber(path: string): number | undefined {
  try {
    const s = readFileSync(path, 'utf8').trim();
    if (s === 'max') return undefined;
    const n = Number(s);
    return Number.isFinite(n) && n > 0 && n < 2 ** 62 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** MemAvailable, and the cgroup (v2, else v1) limit and usage of this process. */
export function memoryRoom(): MemoryRoom {
  const room: MemoryRoom = {};
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) room.available = Number(m[1]) * 1024;
  } catch {}
  let limit: number | undefined;
  let usage: number | undefined;
  try {
    const cg = readFileSync('/proc/self/cgroup', 'utf8');
    const v2 = /^0::(.*)$/m.exec(cg);
    if (v2) {
      const dir = `/sys/fs/cgroup${v2[1] === '/' ? '' : v2[1]}`;
      limit = readNumber(`${dir}/memory.max`);
      usage = readNumber(`${dir}/memory.current`);
    }
    const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(cg);
    if (limit === undefined && v1) {
      // The process's own memory cgroup, else the mount's root (a container whose namespace hides the path).
      for (const dir of [`/sys/fs/cgroup/memory${v1[1] === '/' ? '' : v1[1]}`, '/sys/fs/cgroup/memory']) {
        limit = readNumber(`${dir}/memory.limit_in_bytes`);
        usage = readNumber(`${dir}/memory.usage_in_bytes`);
        if (limit !== undefined && limit > 2 ** 60) limit = undefined; // v1 "unlimited"
        if (limit !== undefined && usage !== undefined) break;
      }
    }
  } catch {}
  if (limit !== undefined && usage !== undefined) {
    room.cgroupLimit = limit;
    room.cgroupLeft = Math.max(0, limit - usage);
  }
  return room;
}

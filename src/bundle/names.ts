/** Bundle file names: sortable by time, unique across processes (time, reason, host, pid). */

/** 20261122T084500123Z: sortable, and safe in file names. */
export function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('.', '');
}

export function bundleFileName(time: Date, reason: string, host: string, pid: number): string {
  const safeHost = host.replace(/[^A-Za-z0-9.-]+/g, '_').slice(0, 63) || 'host';
  const safeReason = reason.replace(/[^a-z0-9-]+/g, '-').slice(0, 40);
  return `autopsy-${stamp(time)}-${safeReason}-${safeHost}-${pid}.tgz`;
}

export const BUNDLE_NAME_RE = /^autopsy-(\d{8}T\d{9}Z)-([a-z0-9-]+)-(.+)-(\d+)(?:-\d+)?\.tgz$/;

/** The time encoded in a bundle's file name, in ms since the epoch, or undefined. */
export function timeFromName(name: string): number | undefined {
  const m = BUNDLE_NAME_RE.exec(name);
  if (!m) return undefined;
  const s = m[1];
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

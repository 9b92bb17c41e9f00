import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Redis } from 'ioredis';

/** Local TCP ports of the sockets process `pid` holds open; null where /proc cannot say (not Linux). */
async function localPorts(pid: number): Promise<Set<number> | null> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const socket = /^socket:\[(\d+)\]$/.exec(link);
    if (socket) inodes.add(socket[1]!);
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      const [local, inode] = [columns[1], columns[9]];
      if (local && inode && inodes.has(inode)) ports.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return ports;
}

const clientPort = (line: string) => Number(/(?:^| )addr=\S*:(\d+)(?: |$)/.exec(line)?.[1]);

/**
 * How many Redis clients are blocked in XREAD (the API follows a job's stream with one blocking
 * XREAD per open SSE connection). With `pid`, only the connections of that process count, so
 * other test runs on the same Redis do not disturb the number; where that cannot be told (no
 * /proc, or Redis sees the connections through a proxy) every client counts.
 */
export async function blockedXreads(redis: Redis, pid?: number): Promise<number> {
  const clients = ((await redis.client('LIST')) as string).split('\n').filter((line) => line.trim() !== '');
  const xreads = clients.filter((line) => line.includes('cmd=xread'));
  const ports = pid === undefined ? null : await localPorts(pid);
  // The process holds at least one connection of its own; if none shows, Redis sees other addresses.
  if (!ports || !clients.some((line) => ports.has(clientPort(line)))) return xreads.length;
  return xreads.filter((line) => ports.has(clientPort(line))).length;
}

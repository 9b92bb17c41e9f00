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
 * The CLIENT LIST lines of the connections process `pid` holds, or every client's where that cannot
 * be told (no /proc, or Redis sees the connections through a proxy): other test runs on the same
 * Redis then do not disturb the count.
 */
export async function processClients(redis: Redis, pid: number): Promise<string[]> {
  const clients = ((await redis.client('LIST')) as string).split('\n').filter((line) => line.trim() !== '');
  const ports = await localPorts(pid);
  // The process holds at least one connection of its own; if none shows, Redis sees other addresses.
  if (!ports || !clients.some((line) => ports.has(clientPort(line)))) return clients;
  return clients.filter((line) => ports.has(clientPort(line)));
}

/**
 * How many Redis clients of process `pid` are blocked in XREAD (the API follows every job stream its
 * SSE clients follow with one blocking XREAD, services/api/src/sse/stream-fanout.ts).
 */
export async function blockedXreads(redis: Redis, pid: number): Promise<number> {
  return (await processClients(redis, pid)).filter((line) => line.includes('cmd=xread')).length;
}

import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ServiceError } from './service-error.js';

/** A connection to one Redis or to a Redis Cluster: the commands this service sends are the same on both. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** CLIENT SETNAME of every connection (each node's, on a cluster), so CLIENT LIST tells them apart. */
  name?: string;
  /**
   * Commands wait through any reconnect instead of failing after ioredis' 20 retries: what BullMQ
   * requires of a Worker's connection, and what a process that must not drop its writes wants.
   * @defaultValue false
   */
  waitForever?: boolean;
}

/** A cluster given as `redis+cluster://[user[:password]@]host:port[,host:port…]` (`rediss+cluster:` with TLS). */
interface ClusterUrl {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@]*)@)?([^/?#]+)\/?$/;
/** `host:port` or `[ipv6]:port`. */
const NODE = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** The cluster a REDIS_URL names, or null for a plain `redis://` / `rediss://` URL of one server. */
export function parseClusterUrl(url: string): ClusterUrl | null {
  const match = CLUSTER_URL.exec(url);
  if (!match) return null;
  const [, scheme, auth, hosts] = match;
  const nodes = hosts!.split(',').map((node) => {
    const parts = NODE.exec(node);
    if (!parts) throw new ServiceError('invalid_redis_url', `\`${node}\` is not host:port`);
    return { host: parts[1] ?? parts[2]!, port: Number(parts[3]) };
  });
  // As in a URL: `user@`, `user:password@`, `:password@`.
  const colon = auth?.indexOf(':') ?? -1;
  const username = auth === undefined ? '' : decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
  const password = auth === undefined || colon < 0 ? '' : decodeURIComponent(auth.slice(colon + 1));
  return { nodes, tls: scheme === 'rediss', ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/**
 * The one way the services connect to Redis (REDIS_URL): one server, or a cluster through ioredis'
 * `Cluster`. Every key of a deployment shares one hash slot (queue-keys.ts), so on a cluster each
 * pipeline, MULTI and script goes to the node that holds it.
 */
export function createRedisConnection(url: string, options: RedisConnectionOptions = {}): RedisClient {
  const redisOptions: RedisOptions = {
    ...(options.name === undefined ? {} : { connectionName: options.name }),
    ...(options.waitForever ? { maxRetriesPerRequest: null } : {}),
  };
  const cluster = parseClusterUrl(url);
  if (!cluster) return new Redis(url, redisOptions);
  const { nodes, tls, ...auth } = cluster;
  return new Cluster(nodes, { redisOptions: { ...redisOptions, ...auth, ...(tls ? { tls: {} } : {}) } });
}

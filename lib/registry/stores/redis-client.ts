import type { Script } from './redis-scripts'

/**
 * The app's node-redis client (5 or 6), standalone (`createClient`) or Redis
 * Cluster (`createCluster`), behind one small surface: the package depends on no
 * Redis library, and the store never asks which kind it has.
 */

type Listener = (...args: any[]) => void

/** What the store uses of a node-redis standalone client. */
export interface RedisClientLike {
  sendCommand (args: string[]): Promise<unknown>
  duplicate (): RedisClientLike
  connect (): Promise<unknown>
  destroy (): void
  on (event: string, listener: (...args: any[]) => void): unknown
  subscribe (channel: string, listener: (message: string) => void): Promise<unknown>
}

/** What the store uses of a node-redis cluster client: its `sendCommand` routes by `firstKey`. */
export interface RedisClusterLike {
  sendCommand (firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>
  duplicate (): RedisClusterLike
  connect (): Promise<unknown>
  destroy (): void
  on (event: string, listener: (...args: any[]) => void): unknown
  subscribe (channel: string, listener: (message: string) => void): Promise<unknown>
  readonly slots: ReadonlyArray<{ master?: unknown } | undefined>
  readonly masters: ReadonlyArray<{ host?: string, port?: number }>
  nodeClient (node: unknown): Promise<RedisClientLike>
}

/** A connection the store opened itself (`duplicate()`), either kind. */
export type OwnConnection = Pick<RedisClientLike, 'on' | 'subscribe' | 'destroy'>

/** One server, for `inspect`. */
export interface RedisNode {
  name: string
  send (args: string[]): Promise<unknown>
}

export function isCluster (client: RedisClientLike | RedisClusterLike): client is RedisClusterLike {
  return typeof (client as Partial<RedisClusterLike>).nodeClient === 'function' && 'masters' in client
}

/** Redis Cluster's hash slot of a key: CRC16 (XMODEM) of its `{tag}`, or of the whole key without one. */
export function slotOf (key: string): number {
  const open = key.indexOf('{')
  const close = open === -1 ? -1 : key.indexOf('}', open + 1)
  const hashed = Buffer.from(close > open + 1 ? key.slice(open + 1, close) : key)
  let crc = 0
  for (const byte of hashed) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

export function errorText (err: unknown): string {
  return err instanceof Error ? err.message : ''
}

/**
 * Runs a script by its SHA1; the source is sent only when the server does not have
 * it (first use, restart, failover, SCRIPT FLUSH), and EVAL caches it again.
 */
export async function evaluate (send: (args: string[]) => Promise<unknown>, script: Script, keys: string[], args: string[]): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args]
  try {
    return await send(['EVALSHA', script.sha, ...tail])
  } catch (err) {
    if (!errorText(err).startsWith('NOSCRIPT')) throw err
    return await send(['EVAL', script.source, ...tail])
  }
}

/** Opens a duplicate of the client on its own connection(s); errors are the caller's to watch. */
export async function openDuplicate<T extends RedisClientLike | RedisClusterLike> (client: T, onError: Listener = () => {}): Promise<T> {
  const duplicate = client.duplicate() as T
  // Without a listener, node-redis' 'error' event would crash the process.
  duplicate.on('error', onError)
  try {
    await duplicate.connect()
  } catch (err) {
    duplicate.destroy()
    throw err
  }
  return duplicate
}

/** The app's client: commands routed by their first key. */
export class RedisLink {
  readonly client: RedisClientLike | RedisClusterLike

  constructor (client: RedisClientLike | RedisClusterLike) {
    this.client = client
  }

  /** Sends a command on the app's client, to the node of `key`'s slot. Never to a replica: a read must see the last end. */
  send (key: string, args: string[]): Promise<unknown> {
    const client = this.client
    return isCluster(client) ? client.sendCommand(key, false, args) : client.sendCommand(args)
  }

  /** Runs a script on the app's client; routed by its first key. */
  run (script: Script, keys: string[], args: string[]): Promise<unknown> {
    return evaluate((command) => this.send(keys[0]!, command), script, keys, args)
  }

  /** Every server the data lives on (a cluster's masters), for `inspect`. */
  nodes (): RedisNode[] {
    const client = this.client
    if (!isCluster(client)) return [{ name: 'Redis', send: (args) => client.sendCommand(args) }]
    return client.masters.map((master) => ({
      name: `Redis ${master.host ?? '?'}:${master.port ?? '?'}`,
      send: async (args) => (await client.nodeClient(master)).sendCommand(args)
    }))
  }
}

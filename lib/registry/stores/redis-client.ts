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
  on (event: string, listener: Listener): unknown
  subscribe (channel: string, listener: (message: string) => void): Promise<unknown>
}

/** What the store uses of a node-redis cluster client: its `sendCommand` routes by `firstKey`. */
export interface RedisClusterLike {
  sendCommand (firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>
  duplicate (): RedisClusterLike
  connect (): Promise<unknown>
  destroy (): void
  on (event: string, listener: Listener): unknown
  subscribe (channel: string, listener: (message: string) => void): Promise<unknown>
  readonly slots: ReadonlyArray<{ master?: unknown } | undefined>
  readonly masters: ReadonlyArray<{ host?: string, port?: number }>
  nodeClient (node: any): Promise<RedisClientLike>
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

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : ''
}

/**
 * Runs a script by its SHA1; the source is sent only when the server does not have
 * it (first use, restart, failover, SCRIPT FLUSH), and EVAL caches it again.
 */
async function evaluate (send: (args: string[]) => Promise<unknown>, script: Script, keys: string[], args: string[]): Promise<unknown> {
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

export class RedisLink {
  readonly client: RedisClientLike | RedisClusterLike
  /** The connection(s) of the writes that WAIT: a WAIT blocks its connection, never the hot path's. */
  #durable: Promise<RedisClientLike | RedisClusterLike> | undefined

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

  /**
   * Runs a script and then `WAIT replicas timeout` on the same connection, which
   * is what WAIT counts: resolves the script's reply once `replicas` replicas have
   * the write, else throws (the write may stand on the primary alone, so a failover
   * could undo it: the caller must not report success). On a cluster both go to
   * the slot's master, pinned: a redirect between them would make WAIT count
   * another node's writes.
   */
  async runDurable (script: Script, keys: string[], args: string[], replicas: number, timeout: number): Promise<unknown> {
    const key = keys[0]!
    let send = await this.#pinned(key)
    let reply: unknown
    try {
      reply = await evaluate(send, script, keys, args)
    } catch (err) {
      if (!/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/.test(errorText(err))) throw err
      // The slot moved: a routed command makes the cluster client learn where, then one try there.
      send = await this.#pinned(key, true)
      reply = await evaluate(send, script, keys, args)
    }
    const acked = Number(await send(['WAIT', String(replicas), String(timeout)]))
    if (!(acked >= replicas)) {
      throw new Error(`RedisLoginStore: the write reached ${acked} of ${replicas} replica(s) within ${timeout} ms (replicaTimeout)`)
    }
    return reply
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

  async close (): Promise<void> {
    const durable = this.#durable
    this.#durable = undefined
    const connection = await durable?.catch(() => undefined)
    connection?.destroy()
  }

  async #pinned (key: string, refresh = false): Promise<(args: string[]) => Promise<unknown>> {
    this.#durable ??= openDuplicate(this.client).catch((err: unknown) => {
      this.#durable = undefined
      throw err
    })
    const durable = await this.#durable
    if (!isCluster(durable)) return (args) => durable.sendCommand(args)
    if (refresh) await durable.sendCommand(key, false, ['EXISTS', key])
    const master = durable.slots[slotOf(key)]?.master
    if (master === undefined) throw new Error(`RedisLoginStore: the cluster has no master for slot ${slotOf(key)}`)
    const node = await durable.nodeClient(master)
    return (args) => node.sendCommand(args)
  }
}

import { errorText, evaluate, isCluster, openDuplicate, slotOf, type RedisClientLike, type RedisClusterLike } from './redis-client'
import type { Script } from './redis-scripts'

/**
 * The writes that must reach `replicas` replicas before they count (`replicas > 0`):
 * each script is followed by `WAIT replicas timeout` on the same connection, which
 * is what WAIT counts. WAIT blocks its connection, so these writes run on a
 * duplicate of the app's client, opened on first use: the hot path's reads never
 * queue behind a WAIT. On a cluster the script and its WAIT go to the slot's
 * master, pinned: a redirect between them would make WAIT count another node's
 * writes.
 *
 * The writes that finished before a WAIT is sent share it (one WAIT confirms every
 * earlier write of its connection): concurrent writes wait about one round trip
 * to the replicas together, and with the replicas gone each fails after one or two
 * `timeout`s, not after the timeouts of every write queued before it.
 */

type Send = (args: string[]) => Promise<unknown>

/** One connection and the WAIT its finished writes will share. */
interface Connection {
  send: Send
  next: Promise<unknown> | undefined
}

export class DurableWriter {
  readonly #client: RedisClientLike | RedisClusterLike
  readonly #replicas: number
  readonly #timeout: number
  #duplicate: Promise<RedisClientLike | RedisClusterLike> | undefined
  /** Per node client of the duplicate (one for a single server). */
  readonly #connections = new WeakMap<object, Connection>()

  constructor (client: RedisClientLike | RedisClusterLike, replicas: number, timeout: number) {
    this.#client = client
    this.#replicas = replicas
    this.#timeout = timeout
  }

  /**
   * Resolves the script's reply once `replicas` replicas have the write. Else
   * throws: the write may stand on the primary alone, and a failover could undo
   * it, so the caller must not report success. `confirm(reply)` false: this write
   * needs no WAIT (a login that ended none).
   */
  async run (script: Script, keys: string[], args: string[], confirm: (reply: unknown) => boolean = () => true): Promise<unknown> {
    const key = keys[0]!
    let connection = await this.#pinned(key)
    let reply: unknown
    try {
      reply = await evaluate(connection.send, script, keys, args)
    } catch (err) {
      if (!/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/.test(errorText(err))) throw err
      // The slot moved: a routed command makes the cluster client learn where, then one try there.
      connection = await this.#pinned(key, true)
      reply = await evaluate(connection.send, script, keys, args)
    }
    if (!confirm(reply)) return reply
    const acked = Number(await this.#wait(connection))
    if (!(acked >= this.#replicas)) {
      throw new Error(`RedisLoginStore: the write reached ${acked} of ${this.#replicas} replica(s) within ${this.#timeout} ms (replicaTimeout)`)
    }
    return reply
  }

  async close (): Promise<void> {
    const duplicate = this.#duplicate
    this.#duplicate = undefined
    const client = await duplicate?.catch(() => undefined)
    client?.destroy()
  }

  /** The WAIT not yet sent on this connection, else a new one, sent once the current callbacks have run. */
  #wait (connection: Connection): Promise<unknown> {
    connection.next ??= Promise.resolve().then(() => {
      connection.next = undefined
      return connection.send(['WAIT', String(this.#replicas), String(this.#timeout)])
    })
    return connection.next
  }

  async #pinned (key: string, refresh = false): Promise<Connection> {
    this.#duplicate ??= openDuplicate(this.#client).catch((err: unknown) => {
      this.#duplicate = undefined
      throw err
    })
    const duplicate = await this.#duplicate
    let node: RedisClientLike = duplicate as RedisClientLike
    if (isCluster(duplicate)) {
      if (refresh) await duplicate.sendCommand(key, false, ['EXISTS', key])
      const master = duplicate.slots[slotOf(key)]?.master
      if (master === undefined) throw new Error(`RedisLoginStore: the cluster has no master for slot ${slotOf(key)}`)
      node = await duplicate.nodeClient(master)
    }
    let connection = this.#connections.get(node)
    if (connection === undefined) {
      connection = { send: (args) => node.sendCommand(args), next: undefined }
      this.#connections.set(node, connection)
    }
    return connection
  }
}

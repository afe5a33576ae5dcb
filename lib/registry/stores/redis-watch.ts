import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { openDuplicate, type RedisLink } from './redis-client'
import type { StoreWatcher } from './types'

/**
 * The hot-path cache's invalidations. Every end of a login publishes the ended
 * ids on `<prefix>ended` from inside its script (`e <id> <id>...`), atomic with the
 * end. Each watcher listens on a connection of its own and must fail safe: Redis
 * pub/sub keeps nothing for a subscriber that is not there, and a link can die
 * silently (a paused or partitioned server sends no RST). So a watcher trusts its
 * link only while it hears its own heartbeat through it: it publishes
 * `b <watch id> <n>` on the channel every `interval` ms from the app's client, and
 * calls `down()` on any connection event that may lose messages, or when no beat
 * of its own came back for `timeout` ms. `up()` comes only once a beat published
 * after the fall came back through the subscription: every end published from then
 * on reaches the watcher.
 *
 * One beat is in flight at a time. On a hung server (paused, or behind a link that
 * died without a reset) beats piling up on the app's client would keep its
 * connection writing, and a client `socketTimeout`, which counts silence both
 * ways, would never fire: the app's commands would wait forever instead of failing.
 *
 * Worst case: ends published after a silent failure are missed until `down()`,
 * at most `timeout` + `interval` later (2 s with the defaults 500 / 1,500 ms: two
 * beats may be late, under a GC pause or a busy event loop, before the third is
 * missed). A late beat costs a false `down()`, which is safe: the registry reads
 * the store until the next `up()`.
 */

export interface Heartbeat {
  interval: number
  timeout: number
}

/** Events after which messages may have been missed; `node-*` and `disconnect` are a cluster client's. */
const FALLS = ['error', 'end', 'reconnecting', 'node-error', 'node-reconnecting', 'node-disconnect', 'disconnect']

export async function watchEnds (link: RedisLink, channel: string, heartbeat: Heartbeat, watcher: StoreWatcher): Promise<() => Promise<void>> {
  const id = randomBytes(9).toString('base64url')
  let sent = 0
  /** A beat numbered at least this proves the link again. */
  let proof = 1
  let up = false
  let lastBeat = 0
  let stopped = false
  let beating = false

  const fall = (): void => {
    proof = sent + 1
    if (!up || stopped) return
    up = false
    watcher.down()
  }

  const hear = (message: string): void => {
    if (stopped) return
    if (message.startsWith('e ')) {
      watcher.ended(message.slice(2).split(' '))
    } else if (message.startsWith(`b ${id} `) && Number(message.slice(id.length + 3)) >= proof) {
      lastBeat = performance.now()
      if (!up) {
        up = true
        watcher.up()
      }
    }
  }

  const beat = (): void => {
    if (up && performance.now() - lastBeat > heartbeat.timeout) fall()
    if (beating) return
    beating = true
    sent++
    // A beat that cannot be sent never comes back: the timeout says the rest.
    link.send(channel, ['PUBLISH', channel, `b ${id} ${sent}`]).catch(() => {}).finally(() => { beating = false })
  }

  const subscriber = await openDuplicate(link.client, fall)
  for (const event of FALLS.slice(1)) subscriber.on(event, fall)
  try {
    await subscriber.subscribe(channel, (message) => hear(String(message)))
  } catch (err) {
    subscriber.destroy()
    throw err
  }
  const timer = setInterval(beat, heartbeat.interval)
  // The app's close stops the watch; the timer alone never keeps a process alive.
  timer.unref()
  beat()

  return async () => {
    if (stopped) return
    stopped = true
    clearInterval(timer)
    // Closing the connection ends the subscription on the server.
    subscriber.destroy()
  }
}

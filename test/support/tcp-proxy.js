'use strict'

// A TCP proxy on 127.0.0.1 in front of a redis-server, for what happens between an
// app and its Redis in a deployment:
//
// - a connection that goes silent (a partition, a dead link that sends no reset):
//   `silence(which)` stops forwarding a connection's bytes both ways, and drops
//   them, while both ends still believe it open; `cut(which)` then closes it, as
//   the end of the partition would;
// - a slow reply: `hold(which)` keeps what the server sends on a connection
//   until `release(which)`, so a test can let something else happen first;
// - a stable address in front of a failover: `retarget(port)` sends the new
//   connections to another server (a Sentinel-aware address, a DNS name moved).
//
// Each connection records what its client sent (`commands`, upper-cased), so a test
// can tell the subscriber of a pub/sub link (it sent SUBSCRIBE) from the app's
// client, and count what one client sent (PUBLISH). With `silenceSubscribers`, every
// connection that subscribes is silenced as it does, its SUBSCRIBE dropped: a link
// that cannot come back until the test lets it.

const net = require('node:net')

/**
 * Reads the commands a client sends, chunk by chunk: RESP arrays of bulk strings
 * (`*<n>\r\n$<len>\r\n<bytes>\r\n...`), the only thing a node-redis client writes.
 * Calls `onCommand` with each command's name, upper-cased.
 */
function commandReader (onCommand) {
  let buffer = Buffer.alloc(0)
  /** A `<prefix><number>\r\n` line at `at`: [number, next offset], or null when incomplete. */
  const line = (prefix, at) => {
    const end = buffer.indexOf('\r\n', at)
    if (end === -1) return null
    if (buffer[at] !== prefix.charCodeAt(0)) throw new Error(`not a RESP command stream at byte ${at}`)
    return [Number(buffer.toString('latin1', at + 1, end)), end + 2]
  }
  const one = () => {
    const head = line('*', 0)
    if (head === null) return false
    let [count, at] = head
    let name = null
    for (; count > 0; count--) {
      const size = line('$', at)
      if (size === null || buffer.length < size[1] + size[0] + 2) return false
      if (name === null) name = buffer.toString('latin1', size[1], size[1] + size[0]).toUpperCase()
      at = size[1] + size[0] + 2
    }
    buffer = buffer.subarray(at)
    onCommand(name)
    return true
  }
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    while (buffer.length > 0 && one());
  }
}

async function startProxy (targetPort) {
  let target = targetPort
  const connections = []
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: target, host: '127.0.0.1' })
    const connection = {
      client,
      upstream,
      commands: [],
      /** What the server sent on it (forwarded or held), as latin1 text. */
      received: '',
      silent: false,
      /** Server bytes kept back while held, else null. */
      held: null,
      closed: false,
      get subscriber () { return connection.commands.includes('SUBSCRIBE') },
      count (name) { return connection.commands.filter((command) => command === name).length }
    }
    connections.push(connection)
    const read = commandReader((name) => connection.commands.push(name))
    client.on('data', (chunk) => {
      read(chunk)
      if (proxy.silenceSubscribers && connection.subscriber) connection.silent = true
      if (!connection.silent) upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (connection.silent) return
      connection.received += chunk.toString('latin1')
      if (connection.held !== null) connection.held.push(chunk)
      else client.write(chunk)
    })
    const close = () => {
      connection.closed = true
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close)
    upstream.on('error', close)
    client.on('close', close)
    upstream.on('close', close)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address()

  const select = (which) => connections.filter((c) => !c.closed && which(c))
  const proxy = {
    port,
    url: `redis://127.0.0.1:${port}`,
    connections,
    silenceSubscribers: false,
    /** The open connections that `which` picks. */
    open: select,
    /** Stops forwarding (and drops) the bytes of these connections, both ways; they stay open. */
    silence (which) {
      const chosen = select(which)
      for (const c of chosen) c.silent = true
      return chosen.length
    },
    /** Keeps back what the server sends on these connections, until `release`. */
    hold (which) {
      const chosen = select(which)
      for (const c of chosen) c.held ??= []
      return chosen.length
    },
    /** Sends on what was held, and forwards again. */
    release (which) {
      for (const c of select(which)) {
        for (const chunk of c.held ?? []) c.client.write(chunk)
        c.held = null
      }
    },
    /** Closes these connections (both sides). */
    cut (which) {
      const chosen = select(which)
      for (const c of chosen) {
        c.client.destroy()
        c.upstream.destroy()
      }
      return chosen.length
    },
    /** New connections go to this port from now on. */
    retarget (newPort) {
      target = newPort
    },
    async close () {
      proxy.cut(() => true)
      await new Promise((resolve) => server.close(resolve))
    }
  }
  return proxy
}

module.exports = { startProxy }

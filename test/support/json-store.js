'use strict'

// A session store for @fastify/session that behaves like a remote one: it keeps
// sessions as JSON, answers every call asynchronously, counts its calls, and can
// be taken down.

/** The store key of a session cookie value (`<id>.<signature>`, maybe URI-encoded). */
function sessionIdOf (cookieValue) {
  const value = decodeURIComponent(cookieValue)
  return value.slice(0, value.lastIndexOf('.'))
}

/**
 * A real in-process session store that keeps sessions as JSON, like a remote
 * store would, and can be taken down: `down.get` / `down.set` / `down.destroy`
 * make that operation fail with a connection error, as a store that is unreachable.
 */
class JsonStore {
  constructor () {
    this.data = new Map()
    this.down = { get: false, set: false, destroy: false }
    this.calls = { get: 0, set: 0, destroy: 0 }
    this.failSets = { from: Infinity, to: Infinity } // numbers of the set() calls that fail
  }

  #fail (op, callback) {
    const error = new Error(`session store unreachable during ${op}`)
    error.code = 'ECONNREFUSED'
    setImmediate(callback, error)
  }

  get (id, callback) {
    this.calls.get++
    if (this.down.get) return this.#fail('get', callback)
    const raw = this.data.get(id)
    setImmediate(callback, null, raw === undefined ? null : JSON.parse(raw))
  }

  set (id, session, callback) {
    this.calls.set++
    const n = this.calls.set
    if (this.down.set || (n >= this.failSets.from && n <= this.failSets.to)) return this.#fail('set', callback)
    this.data.set(id, JSON.stringify(session))
    setImmediate(callback)
  }

  destroy (id, callback) {
    this.calls.destroy++
    if (this.down.destroy) return this.#fail('destroy', callback)
    this.data.delete(id)
    setImmediate(callback)
  }

  session (cookieValue) {
    const raw = this.data.get(sessionIdOf(cookieValue))
    return raw === undefined ? undefined : JSON.parse(raw)
  }
}

module.exports = { JsonStore, sessionIdOf }

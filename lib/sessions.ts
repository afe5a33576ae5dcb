import type { FastifyReply, FastifyRequest } from 'fastify'
import type {} from '@fastify/session'
import { guarded } from './errors'

/** The session as this plugin sees it: a record of keys, on either session plugin. */
export type AnySession = Record<string, unknown>

/**
 * The two session plugins, behind one interface. `@fastify/session` keeps sessions
 * in a store under an id that changes at every login; `@fastify/secure-session`
 * keeps them in an encrypted cookie, so there is no id and nothing to destroy.
 */
export interface SessionAccess {
  /** Which plugin. */
  readonly name: '@fastify/session' | '@fastify/secure-session'
  /** The request's session, or undefined (`@fastify/session` gives none outside its cookie path). */
  of (request: FastifyRequest): AnySession | undefined
  /** Sets (or with `undefined` removes) a key, marking the session changed. */
  write (session: AnySession, key: string, value: unknown): void
  /** The keys of the session's data. */
  keys (session: AnySession): string[]
  /** A new session (a new id, the old one destroyed) holding only the `keep` keys of the old one. */
  regenerate (request: FastifyRequest, session: AnySession, keep: readonly string[]): Promise<AnySession>
  /** Writes the session to its store now (a login change, before any cookie is set). */
  save (session: AnySession): Promise<void>
  /** Ends an empty session entirely (after a logout), so nothing is left behind. */
  forget (request: FastifyRequest, session: AnySession): Promise<void>
  /**
   * Does the response being sent carry `session` as it is now (its `key`)? Asked in
   * onSend, after the session plugin's own onSend wrote its cookie: a login call that
   * finished after that is not in the response.
   */
  carried (request: FastifyRequest, reply: FastifyReply, session: AnySession, key: string): boolean
}

/** The values of the response's Set-Cookie headers. */
function setCookieValues (reply: FastifyReply): string[] {
  const header = reply.getHeader('set-cookie')
  const lines = header === undefined ? [] : Array.isArray(header) ? header.map(String) : [String(header)]
  return lines.map((line) => {
    const start = line.indexOf('=') + 1
    const end = line.indexOf(';')
    const raw = line.slice(start, end === -1 ? undefined : end)
    try {
      return decodeURIComponent(raw)
    } catch {
      return raw
    }
  })
}

interface StoredSession {
  [key: string]: unknown
  sessionId: string
  encryptedSessionId: string
  cookie?: { secure?: unknown }
  regenerate (keys?: string[]): Promise<void>
  save (): Promise<void>
}

/** `@fastify/session`: a session object in a store, whose properties are its data. */
export const storedSessions: SessionAccess = {
  name: '@fastify/session',
  of (request) {
    const session = request.session as unknown as StoredSession | null | undefined
    return session != null && typeof session.regenerate === 'function' ? session : undefined
  },
  write (session, key, value) {
    if (value === undefined) delete session[key]
    else session[key] = value
  },
  keys (session) {
    return Object.keys(session).filter((key) => key !== 'cookie')
  },
  async regenerate (request, session, keep) {
    await guarded(() => (session as StoredSession).regenerate([...keep]))
    return request.session as unknown as AnySession
  },
  save (session) {
    return guarded(() => (session as StoredSession).save())
  },
  forget (request, session) {
    return guarded(() => new Promise((resolve, reject) => {
      request.sessionStore.destroy((session as StoredSession).sessionId, (error?: unknown) => (error ? reject(error) : resolve()))
    }))
  },
  // @fastify/session sends the cookie of `request.session` as it is in its onSend: the new id must be in it.
  carried (request, reply, session) {
    const stored = session as StoredSession
    // A `secure` session cookie is never sent over plain HTTP: nothing to look for.
    if (stored.cookie?.secure === true && request.protocol !== 'https') return true
    const id = stored.encryptedSessionId
    return request.session === (session as unknown) && setCookieValues(reply).some((value) => value === id || value.endsWith(id))
  }
}

interface CookieSession {
  [key: string]: unknown
  get (key: string): unknown
  set (key: string, value: unknown): void
  data (): Record<string, unknown>
  regenerate (keep?: string[]): void
}

/**
 * `@fastify/secure-session`: the session is a Proxy whose property reads are
 * `get()`; writes go through `set()`, which marks it changed.
 */
export const cookieSessions: SessionAccess = {
  name: '@fastify/secure-session',
  of (request) {
    return (request.session as unknown as AnySession | null | undefined) ?? undefined
  },
  write (session, key, value) {
    (session as CookieSession).set(key, value)
  },
  keys (session) {
    const data = (session as CookieSession).data()
    return Object.keys(data).filter((key) => data[key] !== undefined)
  },
  async regenerate (request, session, keep) {
    (session as CookieSession).regenerate([...keep])
    return session
  },
  async save () {},
  // Nothing to destroy: the regenerated, empty session goes out as the new cookie.
  // (secure-session's delete() would also throw away whatever the route writes next.)
  async forget () {},
  // @fastify/secure-session encrypts the session into its cookie in its onSend: that cookie must hold the key as it is now.
  carried (request, reply, session, key) {
    const decode = (request.server as unknown as { decodeSecureSession?: (cookie: string, log?: unknown) => CookieSession | null }).decodeSecureSession
    const wanted = (session as CookieSession).get(key)
    for (const value of setCookieValues(reply)) {
      const sent = value === '' || decode === undefined ? null : decode(value, silent)
      if (sent !== null && sent.get(key) === wanted) return true
    }
    return false
  }
}

const silent = { debug () {}, trace () {}, info () {}, warn () {}, error () {}, fatal () {}, child () { return silent } }

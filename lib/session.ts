import type { FastifyRequest } from 'fastify'
import type {} from '@fastify/session'

/**
 * What one registration keeps in the session, under the session key `_<key>`
 * (`_login` by default). Never mutated: a change writes a new object, so that a
 * store holding the session object itself (the memory store) sees only saved changes.
 */
export interface LoginState {
  /** The user id. */
  id: string
  /** Set when the login is not fresh (a remember-me restore, `fresh: false`). */
  stale?: true
  /** Digest of the client's fingerprint at login (session protection). */
  fingerprint?: string
  /** Digest of the user's `authVersion` at login. */
  version?: string
  /** Set for a remembered login: the lifetime (ms) its remember cookie was given. */
  remember?: number
  /** The login registry's id of this login. */
  loginId?: string
}

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
  /** False for cookie sessions: a copy of an old session cookie cannot be killed. */
  readonly stored: boolean
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
}

interface StoredSession {
  [key: string]: unknown
  sessionId: string
  regenerate (keys?: string[]): Promise<void>
  save (): Promise<void>
}

/** `@fastify/session`: a session object in a store, whose properties are its data. */
export const storedSessions: SessionAccess = {
  name: '@fastify/session',
  stored: true,
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
    await (session as StoredSession).regenerate([...keep])
    return request.session as unknown as AnySession
  },
  save (session) {
    return (session as StoredSession).save()
  },
  forget (request, session) {
    return new Promise((resolve, reject) => {
      request.sessionStore.destroy((session as StoredSession).sessionId, (error?: unknown) => (error ? reject(error) : resolve()))
    })
  }
}

interface CookieSession {
  [key: string]: unknown
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
  stored: false,
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
  async forget () {}
}

/** The login state the session holds for `key`, if any. */
export function readState (session: AnySession | undefined, key: string): LoginState | undefined {
  const state = session?.[key] as LoginState | null | undefined
  return state != null && typeof state.id === 'string' ? state : undefined
}

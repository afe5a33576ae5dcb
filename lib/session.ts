import type { FastifyRequest } from 'fastify'
import type {} from '@fastify/session'

/**
 * What one registration knows of its login, read from the session. In the session
 * it is one string under the key `_<key>` (`_login` by default), see `encodeState`:
 * a session store serialises and hashes the whole session (twice a request for
 * @fastify/session), and one short string costs it far less than an object.
 */
export interface LoginState {
  /** The user id. */
  id: string
  /** True when the login is not fresh (a remember-me restore, `fresh: false`). */
  stale: boolean
  /** Digest of the client's fingerprint at login (session protection), '' without it. */
  fingerprint: string
  /** Digest of the user's `authVersion` at login, '' without the option. */
  version: string
  /** Set for a remembered login: the lifetime (ms) its remember cookie was given. */
  remember: number | undefined
  /** The login registry's id of this login. */
  loginId: string | undefined
}

/**
 * `<fingerprint>.<version>.<s if stale>.<remember lifetime>.<login id>.<user id>`:
 * every field but the last is base64url or digits, so the user id, which may hold
 * dots, is the rest.
 */
export function encodeState (state: LoginState): string {
  return `${state.fingerprint}.${state.version}.${state.stale ? 's' : ''}.${state.remember ?? ''}.${state.loginId ?? ''}.${state.id}`
}

/** The login state the session holds for `key`, if any; anything malformed is no login. */
export function readState (session: AnySession | undefined, key: string): LoginState | undefined {
  const raw = session?.[key]
  if (typeof raw !== 'string') return undefined
  const a = raw.indexOf('.')
  const b = raw.indexOf('.', a + 1)
  const c = raw.indexOf('.', b + 1)
  const d = raw.indexOf('.', c + 1)
  const e = d === -1 ? -1 : raw.indexOf('.', d + 1)
  if (a === -1 || b === -1 || c === -1 || e === -1) return undefined
  const remember = c + 1 === d ? undefined : Number(raw.slice(c + 1, d))
  if (remember !== undefined && !Number.isSafeInteger(remember)) return undefined
  return {
    id: raw.slice(e + 1),
    stale: b + 1 !== c,
    fingerprint: raw.slice(0, a),
    version: raw.slice(a + 1, b),
    remember,
    loginId: d + 1 === e ? undefined : raw.slice(d + 1, e)
  }
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

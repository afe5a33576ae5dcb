import type { FastifyRequest } from 'fastify'
import { LoginError } from './errors'
import { MINUTE } from './option-checks'
import type { UserObject } from './types'
import type { Registration } from './registration'
import type { AnySession } from './sessions'
import { encodeState, ownerOf, type LoginState } from './state'

/**
 * Writing a login into the session. Every login, whatever made it (credentials, a
 * remember-me restore, the test helper, an impersonation), starts here.
 */

/** The session of a request that must have one; the error says how to give it one. */
export function requireSession (registration: Registration, request: FastifyRequest, what: string): AnySession {
  const session = registration.sessions.of(request)
  if (session === undefined) {
    throw new LoginError(`${what} needs a session: register ${registration.sessions.name}, and call it under the session cookie's path`)
  }
  return session
}

/** What makes a new login's state: the rest comes from the request and the clock. */
export interface NewLogin {
  userId: string
  version: string
  fresh: boolean
  /** The remember cookie's lifetime, for a remembered login. */
  remember: number | undefined
  loginId: string | undefined
  impersonationEnds?: number
}

/** The login state of a new login made from this request now. */
export function newState (registration: Registration, request: FastifyRequest, login: NewLogin, now = Date.now()): LoginState {
  const { idleTimeout, absoluteTimeout } = registration.options
  return {
    userId: login.userId,
    loginId: login.loginId,
    fingerprint: registration.fingerprintOf(request),
    version: login.version,
    remember: login.remember,
    startedAt: absoluteTimeout === undefined ? undefined : now,
    seenAt: idleTimeout === undefined ? undefined : now,
    freshAt: login.fresh ? now : undefined,
    impersonationEnds: login.impersonationEnds
  }
}

/**
 * The session keys a new login's session keeps: `keepSessionKeys`, this
 * registration's return address (for `redirectAfterLogin`), and every key of the
 * app's other logins.
 */
function keysToKeep (registration: Registration, session: AnySession): string[] {
  const { keys, appStateKeys, options } = registration
  const keep = [...options.keepSessionKeys]
  for (const key of registration.sessions.keys(session)) {
    const owner = ownerOf(key)
    if ((key === keys.next || (owner !== keys.state && appStateKeys.has(owner))) && !keep.includes(key)) keep.push(key)
  }
  return keep
}

/**
 * Starts a login in a new session: the old id is destroyed (fixation defence), only
 * the keys above survive, and the login state is written here and nowhere else.
 * `extra` are more keys of this registration to write (the staff login under an
 * impersonation).
 */
export async function startLogin (
  registration: Registration, request: FastifyRequest, session: AnySession, state: LoginState, extra: Record<string, string> = {}
): Promise<AnySession> {
  const { sessions, keys } = registration
  const started = await sessions.regenerate(request, session, keysToKeep(registration, session))
  sessions.write(started, keys.state, encodeState(state))
  for (const [key, value] of Object.entries(extra)) sessions.write(started, key, value)
  return started
}

/**
 * Writes a login change to the store now, before any cookie is set. If the store
 * fails, `undo` takes the change out again and the error is thrown: @fastify/session
 * retries its save for the error response, and that retry must not store a change
 * the client was told failed.
 */
export async function saveOrUndo (registration: Registration, session: AnySession, undo: () => void): Promise<void> {
  try {
    await registration.sessions.save(session)
  } catch (error) {
    undo()
    throw error
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * The id `getUserId` gives a user, as the string every store keeps. Ill-formed
 * strings (lone surrogates) are refused: encoded for a store or a cookie, two of
 * them can become the same bytes, and one user would end or read the other's login.
 */
export function idOf (registration: Registration, user: UserObject): string {
  const raw = registration.options.getUserId(user)
  if (raw == null) throw new LoginError('getUserId returned null or undefined for the user')
  const id = String(raw)
  if (LONE_SURROGATE.test(id)) throw new LoginError('getUserId returned a string with a lone surrogate: user ids must be well-formed Unicode')
  return id
}

/** `idleTimeout`: the visit, written at most once a minute (the one write a read-only request makes). */
export function recordVisit (registration: Registration, session: AnySession, state: LoginState, now: number): void {
  if (registration.options.idleTimeout !== undefined && now - (state.seenAt ?? 0) >= MINUTE) {
    registration.sessions.write(session, registration.keys.state, encodeState({ ...state, seenAt: now }))
  }
}

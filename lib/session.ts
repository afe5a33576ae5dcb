import type { FastifyRequest } from 'fastify'
import type {} from '@fastify/session'
import type { LoginContext } from './context'
import { fingerprint } from './protection'
import { versionDigest } from './remember'
import type { LoginUser } from './types'

/** Session keys this plugin owns. Everything else in the session belongs to the app. */
export const ID = '_login_id'
/** Set (true) when the login is not fresh; a fresh login stores nothing, one key less to save. */
export const STALE = '_login_stale'
export const FINGERPRINT = '_login_fp'
export const VERSION = '_login_version'
export const REMEMBER = '_login_remember'
export const LOGIN_KEYS: readonly string[] = [ID, STALE, FINGERPRINT, VERSION, REMEMBER]

/** The parts of an @fastify/session session this plugin uses, seen as a plain record. */
export interface LoginSession {
  [key: string]: unknown
  sessionId: string
  regenerate (keys?: string[]): Promise<void>
  save (): Promise<void>
}

/** The request's session when @fastify/session gave it one (it does not outside its cookie path). */
export function sessionOf (request: FastifyRequest): LoginSession | undefined {
  const session = request.session as unknown as LoginSession | null | undefined
  return session != null && typeof session.regenerate === 'function' ? session : undefined
}

/** The logged-in user id stored in the session, if any. */
export function storedUserId (session: LoginSession | undefined): string | undefined {
  const id = session?.[ID]
  return typeof id === 'string' ? id : undefined
}

export function removeLogin (session: LoginSession): void {
  for (const key of LOGIN_KEYS) {
    if (key in session) delete session[key]
  }
}

/** The app's own keys in the session (everything but the login and the cookie). */
export function appKeys (session: LoginSession): string[] {
  return Object.keys(session).filter((key) => key !== 'cookie' && !LOGIN_KEYS.includes(key))
}

/**
 * Gives the request a new session id, keeping only the keys in `keep`; the old id
 * is destroyed in the store. Returns the new session.
 */
export async function regenerate (request: FastifyRequest, session: LoginSession, keep: string[]): Promise<LoginSession> {
  await session.regenerate(keep)
  return sessionOf(request) as LoginSession
}

/** Digest of the user's auth version, '' without the option. */
export function versionOf (context: LoginContext, user: LoginUser): string {
  const authVersion = context.options.authVersion
  return authVersion === undefined ? '' : versionDigest(authVersion(user))
}

/**
 * Starts a login (loginUser, or a remember-me restore) in a new session: the old
 * id is destroyed (fixation defence), only `keepSessionKeys` survive, and the login
 * keys are written here and nowhere else. `lifetime` is set for a remembered login.
 */
export async function startLogin (
  context: LoginContext, request: FastifyRequest, session: LoginSession,
  login: { id: string, version: string, stale: boolean, lifetime: number | undefined }
): Promise<LoginSession> {
  const { options } = context
  const started = await regenerate(request, session, options.keepSessionKeys)
  started[ID] = login.id
  if (login.stale) started[STALE] = true
  if (options.sessionProtection !== false) started[FINGERPRINT] = fingerprint(request)
  if (options.authVersion !== undefined) started[VERSION] = login.version
  if (login.lifetime !== undefined) started[REMEMBER] = login.lifetime
  return started
}

/**
 * Writes a login change to the store now, before any cookie is set. If the store
 * fails, `undo` takes the change out again and the error is thrown: @fastify/session
 * retries its save for the error response, and that retry must not store a change
 * the client was told failed.
 */
export async function saveOrUndo (session: LoginSession, undo: () => void): Promise<void> {
  try {
    await session.save()
  } catch (error) {
    undo()
    throw error
  }
}

/**
 * Removes a just-regenerated, empty session from the store, so logouts leave
 * nothing behind. @fastify/session still saves it if the app uses
 * saveUninitialized or writes to it later in the request.
 */
export function forget (request: FastifyRequest, session: LoginSession): Promise<void> {
  return new Promise((resolve, reject) => {
    request.sessionStore.destroy(session.sessionId, (error?: unknown) => (error ? reject(error) : resolve()))
  })
}

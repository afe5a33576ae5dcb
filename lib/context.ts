import type { FastifyReply, FastifyRequest } from 'fastify'
import { callbackError } from './errors'
import { LoginManager } from './manager'
import type { ResolvedOptions } from './options'
import { Registry } from './registry'
import { RememberCodec } from './remember'
import type { SessionAccess } from './session'
import type { AuthenticatedBy, LoginUser } from './types'

/** Everything the hook, the reply methods and the guards share, built once per registration. */
export interface LoginContext {
  options: ResolvedOptions
  manager: LoginManager
  /** The stateless remember cookie (without the registry). */
  codec: RememberCodec | undefined
  /** The login registry, when `logins` is on. */
  registry: Registry | undefined
  sessions: SessionAccess
  /** The session key of this registration's login state: `_<key>`. */
  stateKey: string
  /** The session key of the return address under `nextInSession`: `_<key>_next`. */
  nextKey: string
  /** The session keys of every registration of the app, which a login of one keeps for the others. */
  allStateKeys: Set<string>
}

export function createContext (options: ResolvedOptions, sessions: SessionAccess, allStateKeys: Set<string>): LoginContext {
  const registry = options.logins === undefined ? undefined : new Registry(options.logins, options.remember?.secrets, options.key)
  const context: LoginContext = {
    options,
    manager: new LoginManager(options, registry),
    codec: options.remember !== undefined && registry === undefined ? new RememberCodec(options.remember.secrets, options.key) : undefined,
    registry,
    sessions,
    stateKey: `_${options.key}`,
    nextKey: `_${options.key}_next`,
    allStateKeys
  }
  allStateKeys.add(context.stateKey)
  return context
}

/**
 * Per-request state that most requests never have, kept on the request itself
 * (never in the session) and only when set: a decorator with a value would cost
 * every request an extra property store. `kSeenElsewhere`: a 'basic'
 * session-protection hit, this request is not fresh. `kLoginId`: the login
 * registry's id of this request's login, read through `request.loginId`.
 */
export const kSeenElsewhere = Symbol('fastify-login.seenElsewhere')
export const kLoginId = Symbol('fastify-login.loginId')

declare module 'fastify' {
  interface FastifyRequest {
    [kSeenElsewhere]?: boolean
    [kLoginId]?: string | null
  }
}

const kNoStore = Symbol('fastify-login.noStore')
type MarkedReply = FastifyReply & { [kNoStore]?: true }

/**
 * Marks a response that changes the login: no shared cache may keep it. The headers
 * are written in onSend (`applyNoStore`), after the route, so a route's own
 * Cache-Control cannot undo them.
 */
export function noStore (reply: FastifyReply): void {
  (reply as MarkedReply)[kNoStore] = true
}

/** onSend: `Cache-Control: no-store` and `Vary: Cookie` on the responses marked by `noStore`. */
export function applyNoStore (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void): void {
  if ((reply as MarkedReply)[kNoStore] === true) {
    reply.header('cache-control', 'no-store')
    const vary = reply.getHeader('vary')
    if (vary === undefined) {
      reply.header('vary', 'Cookie')
    } else if (!/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(String(vary))) {
      reply.header('vary', `${String(vary)}, Cookie`)
    }
  }
  done(null, payload)
}

/**
 * Only an object (or a function) is a user. A loader that answers `false`, `0` or
 * `''` found nobody: treating those as users would let them through the guards. An
 * array is nobody too (`[]` is what a query for a deleted user returns), and an
 * Error is not a user either.
 */
export function isUser (value: unknown): value is LoginUser {
  return isObject(value) && !(value instanceof Error)
}

function isObject (value: unknown): value is object {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && !Array.isArray(value)
}

/** A loader's answer as a user or nobody; a returned Error is a failure of the loader, like a throw. */
export function toUser (answer: unknown, loader: string): LoginUser | null {
  if (!isObject(answer)) return null
  if (answer instanceof Error) throw callbackError(loader, answer)
  return answer
}

/** Sets who the request is; `loginId` only with the login registry (null when a registry login ends). */
export function setUser (request: FastifyRequest, user: LoginUser | null, by: AuthenticatedBy | null, loginId?: string | null): void {
  request.user = user
  request.authenticatedBy = by
  if (loginId !== undefined) request[kLoginId] = loginId
}

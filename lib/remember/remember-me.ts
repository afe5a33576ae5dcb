import type { FastifyReply, FastifyRequest } from 'fastify'
import { LoginError } from '../errors'
import type { Registration } from '../registration'
import type { LoginRecord, RememberSeries } from '../registry/stores/types'
import type { LoginState } from '../state'
import type { LoginUser } from '../types'
import { StatelessRemember } from './cookie'
import { TokenRemember } from './token'
import { RememberCookie } from './transport'

/**
 * Remember-me behind one interface, chosen once at start-up: the stateless sealed
 * cookie (`cookie.ts`), the login registry's rotating token (`token.ts`), or off.
 * The request path and the reply methods never ask which one is on. What both
 * implementations do alike when a cookie restores a login or is refused is in
 * `restore.ts`.
 */

/** A session login that no longer stands, whose user was already loaded: a cookie may restore only that same user. */
export interface Lapsed {
  userId: string
  user: LoginUser | null
}

/** What `issue` prepares for a new remembered login, before anything changes. */
export interface Issued {
  value: string
  /** Under the registry: the series to save with the login. */
  series: RememberSeries | undefined
}

export interface NewRemembered {
  userId: string
  version: string
  lifetime: number
  expiresAt: number
  /** Under the registry: the login record the series backs. */
  login: LoginRecord | undefined
}

export interface RememberMe {
  /** The request's remember cookie, or undefined (always, when remember-me is off). */
  read (request: FastifyRequest): string | undefined
  /** The cookie of a new remembered login; throws when it cannot work (off, or no browser would keep it). */
  issue (login: NewRemembered): Issued
  set (reply: FastifyReply, value: string, expiresAt: number): void
  /** No session login stands: log the request in from its cookie. Resolves whether it did. */
  restore (request: FastifyRequest, reply: FastifyReply, cookie: string, lapsed: Lapsed | undefined): Promise<boolean>
  /** `refresh`: extends the cookie of the session's login, or rejects what is not one. */
  refresh (request: FastifyRequest, reply: FastifyReply, cookie: string, state: LoginState, user: LoginUser): Promise<void> | undefined
  /** Expires the cookie (also when the request did not carry it: it may be scoped to another path). */
  clear (reply: FastifyReply): void
  /** A logout that found only this cookie: ends the login it names, everywhere it can. */
  forget (request: FastifyRequest, cookie: string): Promise<void>
}

/** The registration's remember-me, built once the rest of the registration is. */
export function rememberMe (registration: Registration): RememberMe {
  const remember = registration.options.remember
  if (remember === undefined) return off
  const cookie = new RememberCookie(remember)
  return registration.registry === undefined
    ? new StatelessRemember(registration, remember, cookie)
    : new TokenRemember(registration, registration.registry, remember, cookie)
}

export const off: RememberMe = {
  read: () => undefined,
  issue () {
    throw new LoginError('loginUser({ remember: true }) needs the remember option to be configured')
  },
  set () {},
  restore: async () => false,
  refresh: () => undefined,
  clear () {},
  forget: async () => {}
}

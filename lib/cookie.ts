import type { FastifyReply, FastifyRequest } from 'fastify'
import { noStore, type LoginContext } from './context'
import type { ResolvedRemember } from './options'

function attributes (remember: ResolvedRemember) {
  return {
    path: remember.path,
    domain: remember.domain,
    secure: remember.secure,
    httpOnly: remember.httpOnly,
    sameSite: remember.sameSite,
    // The app may have made signing the default in @fastify/cookie's parseOptions; this value signs itself.
    signed: false
  }
}

/** The remember cookie the request carries, if remember-me is on. */
export function rememberCookie (context: LoginContext, request: FastifyRequest): string | undefined {
  const remember = context.options.remember
  return remember === undefined ? undefined : request.cookies?.[remember.cookieName]
}

/**
 * Issues the remember cookie for `id` until `expires` (ms since the epoch);
 * `lifetime` (ms) is what `refresh` will extend it by.
 */
export function setRememberCookie (
  context: LoginContext, reply: FastifyReply, id: string, expires: number, lifetime: number, version: string
): void {
  const remember = context.options.remember as ResolvedRemember
  const value = context.codec!.encode(id, expires, lifetime, version)
  reply.setCookie(remember.cookieName, value, {
    ...attributes(remember),
    maxAge: Math.max(1, Math.round((expires - Date.now()) / 1000)),
    expires: new Date(expires)
  })
  noStore(reply)
}

/** Expires the remember cookie with the attributes it was set with. */
export function clearRememberCookie (context: LoginContext, reply: FastifyReply): void {
  const remember = context.options.remember
  if (remember === undefined) return
  reply.clearCookie(remember.cookieName, attributes(remember))
  noStore(reply)
}

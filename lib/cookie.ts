import type { FastifyReply, FastifyRequest } from 'fastify'
import { noStore, type LoginContext } from './context'
import { LoginError } from './errors'
import type { ResolvedRemember } from './options'
import { MAX_COOKIE_LENGTH } from './remember'

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

/**
 * The remember cookie the request carries, if remember-me is on. Only the request's
 * own cookies: `constructor` or `__proto__` are valid cookie names too.
 */
export function rememberCookie (context: LoginContext, request: FastifyRequest): string | undefined {
  const remember = context.options.remember
  const cookies = request.cookies
  return remember === undefined || cookies == null || !Object.hasOwn(cookies, remember.cookieName)
    ? undefined
    : cookies[remember.cookieName]
}

/**
 * The stateless remember cookie's value for `id` until `expires` (ms since the
 * epoch); `lifetime` (ms) is what `refresh` will extend it by.
 */
export function rememberValue (context: LoginContext, id: string, expires: number, lifetime: number, version: string): string {
  return checkCookieSize(context, context.codec!.encode(id, expires, lifetime, version))
}

/**
 * Throws when no browser would keep the remember cookie `value`: a login must not
 * report a remember-me that cannot work.
 */
export function checkCookieSize (context: LoginContext, value: string): string {
  const bytes = context.options.remember!.cookieName.length + 1 + encodeURIComponent(value).length
  if (bytes > MAX_COOKIE_LENGTH) {
    throw new LoginError(`the remember cookie for this user id would take ${bytes} bytes, over the ${MAX_COOKIE_LENGTH} bytes browsers keep: use shorter user ids (getUserId)`)
  }
  return value
}

/** Issues the remember cookie `value`, which expires at `expires` (ms since the epoch). */
export function setRememberCookie (context: LoginContext, reply: FastifyReply, value: string, expires: number): void {
  const remember = context.options.remember as ResolvedRemember
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

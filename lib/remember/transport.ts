import type { FastifyReply, FastifyRequest } from 'fastify'
import { LoginError } from '../errors'
import { noStore } from '../responses'
import type { ResolvedRemember } from './options'

/**
 * The remember cookie itself, whichever kind of value it carries: its attributes,
 * the size browsers keep, and reading only the request's own cookie.
 */

/** Browsers keep at most 4096 bytes of a cookie's name and value: anything longer is not ours, and ours must fit. */
export const MAX_COOKIE_LENGTH = 4096

export class RememberCookie {
  readonly name: string
  readonly #attributes: {
    path: string
    domain: string | undefined
    secure: boolean | 'auto'
    httpOnly: boolean
    sameSite: ResolvedRemember['sameSite']
    signed: false
  }

  constructor (remember: ResolvedRemember) {
    this.name = remember.cookieName
    this.#attributes = {
      path: remember.path,
      domain: remember.domain,
      secure: remember.secure,
      httpOnly: remember.httpOnly,
      sameSite: remember.sameSite,
      // The app may have made signing the default in @fastify/cookie's parseOptions; our values sign themselves.
      signed: false
    }
  }

  /** The request's remember cookie. Only its own cookies: `constructor` or `__proto__` are valid cookie names too. */
  read (request: FastifyRequest): string | undefined {
    const cookies = request.cookies
    return cookies == null || !Object.hasOwn(cookies, this.name) ? undefined : cookies[this.name]
  }

  /** Throws when no browser would keep `value`: a login must not report a remember-me that cannot work. */
  check (value: string): string {
    const bytes = this.name.length + 1 + encodeURIComponent(value).length
    if (bytes > MAX_COOKIE_LENGTH) {
      throw new LoginError(`the remember cookie for this user id would take ${bytes} bytes, over the ${MAX_COOKIE_LENGTH} bytes browsers keep: use shorter user ids (getUserId)`)
    }
    return value
  }

  /** Sets `value`, expiring at `expires` (ms since the epoch). */
  set (reply: FastifyReply, value: string, expires: number): void {
    reply.setCookie(this.name, value, {
      ...this.#attributes,
      maxAge: Math.max(1, Math.round((expires - Date.now()) / 1000)),
      expires: new Date(expires)
    })
    noStore(reply)
  }

  /** Expires the cookie with the attributes it was set with. */
  clear (reply: FastifyReply): void {
    reply.clearCookie(this.name, this.#attributes)
    noStore(reply)
  }
}

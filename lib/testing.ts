import { IncomingMessage } from 'node:http'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { kTicket, testing, TICKET_DONE, type Ticket } from './test-login'
import type { UserObject } from './types'

testing.enabled = true

export interface LoginAsOptions {
  /** A fresh login (as after typing the password). Default `true`. */
  fresh?: boolean
  /** Also set a remember-me cookie. Default `false`. */
  remember?: boolean
  /** The remember cookie's lifetime in ms. Default: the `remember.maxAge` option. */
  maxAge?: number
  /** Which login of the app (its `key`). Default `'login'`. */
  key?: string
  /** A URL under the routes of that login; the route itself never runs. Default `'/'`. */
  url?: string
  /**
   * Request headers of the login, such as the `user-agent` your test requests send:
   * session protection compares later requests with it. Default: `app.inject()`'s.
   */
  headers?: Record<string, string>
  /** The client address of the login (session protection). Default: `app.inject()`'s. */
  remoteAddress?: string
}

/** What `app.inject()` needs to act as the logged-in user. */
export interface TestLogin {
  /** For `app.inject({ cookies })`: cookie name to (decoded) value. */
  cookies: Record<string, string>
  /** For `app.inject({ headers })`: the `cookie` header. */
  headers: { cookie: string }
}

/**
 * Logs `user` in for the app's own tests, without a login route, a password or a
 * CSRF token, and returns the cookies that make `app.inject()` requests act as
 * that user. It works only in-process, through `app.inject()`: nothing about it is
 * reachable over HTTP.
 *
 * ```js
 * const { loginAs } = require('fastify-login/testing')
 * const login = await loginAs(app, user)
 * const res = await app.inject({ url: '/account', cookies: login.cookies })
 * ```
 */
export async function loginAs (app: FastifyInstance, user: UserObject, options: LoginAsOptions = {}): Promise<TestLogin> {
  const ticket: Ticket = {
    user,
    key: options.key ?? 'login',
    fresh: options.fresh ?? true,
    remember: options.remember ?? false,
    maxAge: options.maxAge
  }
  // A request class for this one call, whose prototype carries the ticket.
  class TicketRequest extends IncomingMessage {}
  Object.defineProperty(TicketRequest.prototype, kTicket, { value: ticket })

  const url = options.url ?? '/'
  const res = await app.inject({
    method: 'GET',
    url,
    headers: options.headers,
    ...(options.remoteAddress === undefined ? {} : { remoteAddress: options.remoteAddress }),
    Request: TicketRequest
  } satisfies InjectOptions)
  if (res.statusCode !== 204 || res.headers[TICKET_DONE] !== ticket.key) {
    throw new Error(`fastify-login/testing: loginAs could not log in through ${url} (${res.statusCode} ${res.body}): ` +
      `pass the url of a route under the login with key '${ticket.key}', registered on this app`)
  }

  // light-my-request parses the Set-Cookie headers (`res.cookies`, values decoded as
  // @fastify/cookie reads them); a cookie the response expires is one the client drops.
  const cookies: Record<string, string> = {}
  for (const cookie of res.cookies) {
    if (isExpired(cookie)) delete cookies[cookie.name]
    else cookies[cookie.name] = cookie.value
  }
  // The header is encoded by the app's own @fastify/cookie, as it encoded the Set-Cookie.
  const header = Object.entries(cookies).map(([name, value]) => app.serializeCookie(name, value, {})).join('; ')
  return { cookies, headers: { cookie: header } }
}

/** Whether a browser would drop this cookie at once: an empty value, Max-Age <= 0, or an Expires in the past. */
function isExpired (cookie: { value: string, maxAge?: number, expires?: Date }): boolean {
  if (cookie.value === '') return true
  if (cookie.maxAge !== undefined) return cookie.maxAge <= 0
  return cookie.expires !== undefined && cookie.expires.getTime() <= Date.now()
}

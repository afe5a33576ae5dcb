import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Registration } from './registration'
import { isAllowedAbsolute, isSafeRedirect, toLocation, withQueryParam } from './redirect'
import { kEndReason } from './request-user'

/**
 * The return address: where a guard sends a browser to log in (with where it was
 * going), and where `redirectAfterLogin` sends it back. In the query (`next`), or
 * with `nextInSession` in the session under `_<key>:next`.
 */

/** A login or refresh page of a guard. */
export interface Page {
  /** The address to redirect this request to, its return address included. */
  redirect (registration: Registration, request: FastifyRequest): string
}

export function loginPage (url: string | undefined, message: string | undefined): Page | undefined {
  if (url === undefined) return undefined
  // Set for an absolute URL: `next` is then the request's absolute URL, unless the origin is the request's own.
  const origin = url.startsWith('/') ? undefined : new URL(url).origin
  return {
    redirect (registration, request) {
      const { options, sessions, keys } = registration
      const requestOrigin = origin === undefined ? undefined : `${request.protocol}://${request.host}`
      const elsewhere = origin !== undefined && origin !== requestOrigin
      // A sign-in site on another host needs the whole address to send the user back.
      const next = elsewhere ? requestOrigin + request.url : request.url
      // "You were logged out on another device" rather than a bare login page.
      const reason = request[kEndReason]
      const ended = reason === undefined ? undefined : options.loginEndedMessage?.(reason, request)
      const flashed = ended ?? message
      if (flashed !== undefined) flash(request, flashed)
      if (options.nextInSession && !elsewhere) {
        const session = sessions.of(request)
        if (session !== undefined) {
          sessions.write(session, keys.next, next)
          return url
        }
      }
      return withQueryParam(url, options.nextParam, next)
    }
  }
}

/** `@fastify/flash`'s `request.flash(type, message)`; the plugin checks at start-up that it is registered. */
function flash (request: FastifyRequest, message: string): void {
  const flasher = (request as { flash?: (type: string, message: string) => unknown }).flash
  if (typeof flasher === 'function') flasher.call(request, 'info', message)
}

/** `reply.redirectAfterLogin`, bound to one registration. */
export function createRedirectAfterLogin (registration: Registration) {
  const { options, sessions, keys } = registration
  return function redirectAfterLogin (this: FastifyReply, fallback = '/'): FastifyReply {
    const request = this.request
    let next = nextFrom(request.query, options.nextParam) ?? nextFrom(request.body, options.nextParam)
    if (options.nextInSession) {
      const session = sessions.of(request)
      const stored = session?.[keys.next]
      if (session !== undefined && stored !== undefined) sessions.write(session, keys.next, undefined)
      next ??= stored
    }
    const safe = isSafeRedirect(next) || (options.allowedRedirectOrigins.size > 0 && isAllowedAbsolute(next, options.allowedRedirectOrigins))
    return this.redirect(toLocation(safe ? next as string : fallback))
  }
}

function nextFrom (source: unknown, param: string): unknown {
  if (source === null || typeof source !== 'object' || !Object.hasOwn(source, param)) return undefined
  return (source as Record<string, unknown>)[param]
}

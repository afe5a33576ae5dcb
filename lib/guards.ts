import type { FastifyReply, FastifyRequest } from 'fastify'
import Negotiator from 'negotiator'
import type { LoginContext } from './context'
import { FreshLoginRequiredError, LoginRequiredError } from './errors'
import { checkGuardOptions } from './options'
import { withQueryParam } from './redirect'
import type { GuardDone, GuardHandler, LoginGuard, LoginGuardOptions } from './types'

// JSON first: a client that accepts anything (`*/*` alone, or no Accept) is an API client.
const MEDIA_TYPES = ['application/json', 'text/html']

/**
 * A browser navigation: a GET or HEAD whose Accept header prefers HTML (q-values and
 * case as HTTP means them). Only these are redirected. Runs on refused requests only.
 */
function isNavigation (request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  return new Negotiator(request.raw).mediaType(MEDIA_TYPES) === 'text/html'
}

/**
 * A CORS preflight: OPTIONS with an Origin and the method asked for. Only these go
 * through as the exempt OPTIONS: any other OPTIONS request would run the guarded
 * handler (an `app.all()` route) for anyone.
 */
function isPreflight (request: FastifyRequest): boolean {
  const headers = request.headers
  return headers.origin !== undefined && headers['access-control-request-method'] !== undefined
}

/** A login or refresh page: its address, and its origin when it is on another site. */
interface Page {
  url: string
  /** Set for an absolute URL: `next` is then the request's absolute URL, unless the origin is the request's own. */
  origin: string | undefined
  /** Flashed before redirecting there. */
  message: string | undefined
}

function pageOf (url: string | undefined, message: string | undefined): Page | undefined {
  if (url === undefined) return undefined
  return { url, origin: url.startsWith('/') ? undefined : new URL(url).origin, message }
}

/**
 * Builds a `preHandler` guard. Anonymous requests (and stale ones, with `fresh`)
 * get the handler's response, else a redirect for browser navigations, else a 401 error.
 */
export function createGuard (context: LoginContext, guardOptions: LoginGuardOptions = {}): LoginGuard {
  const { options, manager } = context
  checkGuardOptions(guardOptions)
  const fresh = guardOptions.fresh === true
  const respond = guardOptions.respond !== false
  const loginPage = pageOf(guardOptions.loginUrl ?? options.loginUrl, options.loginMessage)
  const refreshPage = pageOf(guardOptions.loginUrl ?? options.refreshUrl, options.refreshMessage)
  const onUnauthorized = guardOptions.onUnauthorized ?? options.onUnauthorized
  const onNeedsRefresh = guardOptions.onUnauthorized ?? options.onNeedsRefresh

  /**
   * As a preHandler hook it is callback style, so a request that passes costs no
   * promise. Called by hand (`await fastify.loginRequired(request, reply)`) it
   * returns a promise instead, which waits for a refusal's response to be sent.
   */
  function loginGuard (request: FastifyRequest, reply: FastifyReply, done?: GuardDone): void | Promise<void> {
    if (typeof done !== 'function') {
      return new Promise((resolve, reject) => {
        check(request, reply, (error) => (error ? reject(error) : resolve()), () => resolve(reply as unknown as undefined))
      })
    }
    check(request, reply, done, noop)
  }
  return loginGuard as LoginGuard

  function check (request: FastifyRequest, reply: FastifyReply, done: GuardDone, sent: () => void): void {
    if (options.exemptMethods.has(request.method) && (request.method !== 'OPTIONS' || isPreflight(request))) return done()
    if (request.user === null) {
      manager.emit('unauthorized', request)
      return refuse(request, reply, onUnauthorized, loginPage, LoginRequiredError, done, sent)
    }
    if (fresh && !request.isFresh()) {
      manager.emit('needsRefresh', request)
      return refuse(request, reply, onNeedsRefresh, refreshPage, FreshLoginRequiredError, done, sent)
    }
    done()
  }

  /**
   * Answers a refused request. Once a response is sent, `done` is not called: the
   * route never runs. Whatever goes wrong in a handler refuses too: a handler that
   * throws nothing (`throw undefined`) must not let the request through.
   */
  function refuse (
    request: FastifyRequest,
    reply: FastifyReply,
    handler: GuardHandler | undefined,
    page: Page | undefined,
    ErrorType: new () => Error,
    done: GuardDone,
    sent: () => void
  ): void {
    // As an @fastify/auth strategy: fail, and let @fastify/auth decide.
    if (!respond) return done(new ErrorType())
    if (handler !== undefined) {
      // Whether the handler started a response, even one still in the onSend hooks
      // (an async session store saving): `reply.sent` only turns true once it ends.
      const sending = watchSend(reply)
      const settle = (error?: unknown): void => {
        sending.stop()
        if (sending.started || reply.sent) return sent()
        done(error instanceof Error ? error : new ErrorType())
      }
      let result: unknown
      try {
        result = handler(request, reply)
      } catch (error) {
        return settle(error)
      }
      if (result === reply) return settle()
      // A handler that sent nothing is refused, whatever it returned or threw.
      Promise.resolve(result).then(() => settle(), settle)
      return
    }
    if (page !== undefined && isNavigation(request)) {
      reply.redirect(redirectTo(page, request))
      return sent()
    }
    done(new ErrorType())
  }

  /** The address of the login page for this request, with its return address (in the query, or kept in the session). */
  function redirectTo (page: Page, request: FastifyRequest): string {
    const requestOrigin = page.origin === undefined ? undefined : `${request.protocol}://${request.host}`
    const elsewhere = page.origin !== undefined && page.origin !== requestOrigin
    // A sign-in site on another host needs the whole address to send the user back.
    const next = elsewhere ? requestOrigin + request.url : request.url
    if (page.message !== undefined) flash(request, page.message)
    if (options.nextInSession && !elsewhere) {
      const session = context.sessions.of(request)
      if (session !== undefined) {
        context.sessions.write(session, context.nextKey, next)
        return page.url
      }
    }
    return withQueryParam(page.url, options.nextParam, next)
  }
}

function noop (): void {}

/** `@fastify/flash`'s `request.flash(type, message)`, when it is registered. */
function flash (request: FastifyRequest, message: string): void {
  const flasher = (request as { flash?: (type: string, message: string) => unknown }).flash
  if (typeof flasher === 'function') flasher.call(request, 'info', message)
}

/** Notes a call of `reply.send` (which `redirect` and the rest go through) until `stop()`. */
function watchSend (reply: FastifyReply): { started: boolean, stop (): void } {
  const watch = {
    started: false,
    stop () {
      delete (reply as { send?: unknown }).send
    }
  }
  const send = reply.send
  reply.send = function (this: FastifyReply, payload?: unknown) {
    watch.started = true
    return send.call(this, payload)
  }
  return watch
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import { buildLoginUrl, type LoginContext } from './context'
import { FreshLoginRequiredError, LoginRequiredError } from './errors'
import { checkGuardOptions } from './options'
import type { GuardDone, GuardHandler, LoginGuard, LoginGuardOptions } from './types'

/** A browser navigation: a GET or HEAD that accepts HTML. Only these are redirected. */
function isNavigation (request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  const accept = request.headers.accept
  return typeof accept === 'string' && accept.includes('text/html')
}

/**
 * Builds a `preHandler` guard. Anonymous requests (and stale ones, with `fresh`)
 * get the handler's response, else a redirect for browser navigations, else a 401 error.
 */
export function createGuard (context: LoginContext, guardOptions: LoginGuardOptions = {}): LoginGuard {
  const { options, manager } = context
  checkGuardOptions(guardOptions)
  const fresh = guardOptions.fresh === true
  const loginUrl = guardOptions.loginUrl ?? options.loginUrl
  const refreshUrl = guardOptions.loginUrl ?? options.refreshUrl
  const onUnauthorized = guardOptions.onUnauthorized ?? options.onUnauthorized
  const onNeedsRefresh = guardOptions.onUnauthorized ?? options.onNeedsRefresh

  // Callback style: a request that passes costs no promise.
  return function loginGuard (request: FastifyRequest, reply: FastifyReply, done: GuardDone): void {
    if (options.exemptMethods.has(request.method)) return done()
    if (request.user === null) {
      manager.emit('unauthorized', request)
      return refuse(request, reply, onUnauthorized, loginUrl, LoginRequiredError, done)
    }
    if (fresh && !request.isFresh()) {
      manager.emit('needsRefresh', request)
      return refuse(request, reply, onNeedsRefresh, refreshUrl, FreshLoginRequiredError, done)
    }
    done()
  }

  /** Answers a refused request. Once a response is sent, `done` is not called: the route never runs. */
  function refuse (
    request: FastifyRequest,
    reply: FastifyReply,
    handler: GuardHandler | undefined,
    url: string | undefined,
    ErrorType: new () => Error,
    done: GuardDone
  ): void {
    if (handler !== undefined) {
      let result: unknown
      try {
        result = handler(request, reply)
      } catch (error) {
        return done(error as Error)
      }
      if (result === reply) return
      // A promise of the reply settles once the response is sent; a handler that sent nothing is refused.
      Promise.resolve(result).then(() => reply.sent || done(new ErrorType()), done)
      return
    }
    if (url !== undefined && isNavigation(request)) {
      reply.redirect(buildLoginUrl(url, options.nextParam, request.url))
      return
    }
    done(new ErrorType())
  }
}

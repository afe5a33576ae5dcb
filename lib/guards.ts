import type { FastifyReply, FastifyRequest } from 'fastify'
import { buildLoginUrl, type LoginContext } from './context'
import { FreshLoginRequiredError, LoginRequiredError } from './errors'
import { checkGuardOptions } from './options'
import type { GuardHandler, LoginGuard, LoginGuardOptions } from './types'

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

  return async function loginGuard (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (options.exemptMethods.has(request.method)) return
    if (request.user === null) {
      manager.emit('unauthorized', request)
      return refuse(request, reply, onUnauthorized, loginUrl, LoginRequiredError)
    }
    if (fresh && !request.isFresh()) {
      manager.emit('needsRefresh', request)
      return refuse(request, reply, onNeedsRefresh, refreshUrl, FreshLoginRequiredError)
    }
  }

  async function refuse (
    request: FastifyRequest,
    reply: FastifyReply,
    handler: GuardHandler | undefined,
    url: string | undefined,
    ErrorType: new () => Error
  ): Promise<void> {
    if (handler !== undefined) {
      const result = await handler(request, reply)
      // The handler sent a response (and returned the reply): wait for it, never run the route.
      if (result === reply || reply.sent) return reply as unknown as undefined
      throw new ErrorType()
    }
    if (url !== undefined && isNavigation(request)) {
      return reply.redirect(buildLoginUrl(url, options.nextParam, request.url)) as unknown as undefined
    }
    throw new ErrorType()
  }
}

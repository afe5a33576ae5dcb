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
    if (options.exemptMethods.has(request.method)) return done()
    if (request.user === null) {
      manager.emit('unauthorized', request)
      return refuse(request, reply, onUnauthorized, loginUrl, LoginRequiredError, done, sent)
    }
    if (fresh && !request.isFresh()) {
      manager.emit('needsRefresh', request)
      return refuse(request, reply, onNeedsRefresh, refreshUrl, FreshLoginRequiredError, done, sent)
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
    url: string | undefined,
    ErrorType: new () => Error,
    done: GuardDone,
    sent: () => void
  ): void {
    const fail = (error: unknown): void => done(error instanceof Error ? error : new ErrorType())
    if (handler !== undefined) {
      let result: unknown
      try {
        result = handler(request, reply)
      } catch (error) {
        return fail(error)
      }
      if (result === reply) return sent()
      // A promise of the reply settles once the response is sent; a handler that sent nothing is refused.
      Promise.resolve(result).then(() => (reply.sent ? sent() : done(new ErrorType())), fail)
      return
    }
    if (url !== undefined && isNavigation(request)) {
      reply.redirect(buildLoginUrl(url, options.nextParam, request.url))
      return sent()
    }
    done(new ErrorType())
  }
}

function noop (): void {}

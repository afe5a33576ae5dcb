import type { FastifyReply, FastifyRequest } from 'fastify'
import Negotiator from 'negotiator'
import { buildLoginUrl, type LoginContext } from './context'
import { FreshLoginRequiredError, LoginRequiredError } from './errors'
import { checkGuardOptions } from './options'
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
    if (url !== undefined && isNavigation(request)) {
      reply.redirect(buildLoginUrl(url, options.nextParam, request.url))
      return sent()
    }
    done(new ErrorType())
  }
}

function noop (): void {}

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

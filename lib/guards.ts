import type { FastifyReply, FastifyRequest } from 'fastify'
import Negotiator from 'negotiator'
import { FreshLoginRequiredError, LoginRequiredError, SetupError } from './errors'
import { loginPage, type Page } from './next'
import { checkUnknown, checkUrl, fail, optionalFunction, optionalString, boolOption, optionalDuration, SECOND } from './option-checks'
import { registrationOf, type Registration } from './registration'
import { isFresh } from './request-user'
import type { GuardDone, GuardHandler, LoginGuard, LoginGuardOptions } from './types'

/**
 * The guards: `preHandler` hooks that let a request through to its handler only
 * with a login (and, with `fresh`, a fresh one). They fail closed: a guard used
 * where no registration covers the route answers 500 `FST_LOGIN_SETUP`; no exempt
 * method, preflight header or route shape runs a guarded handler for nobody (an
 * exempt request without a login is answered by the guard itself, 204).
 */

// JSON first: a client that accepts anything (`*/*` alone, or no Accept) is an API client.
const MEDIA_TYPES = ['application/json', 'text/html']
const KNOWN_OPTIONS = new Set(['fresh', 'freshFor', 'loginUrl', 'onUnauthorized', 'respond'])

/**
 * A browser navigation: a GET or HEAD whose Accept header prefers HTML (q-values and
 * case as HTTP means them). Only these are redirected. Runs on refused requests only.
 */
function isNavigation (request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  return new Negotiator(request.raw).mediaType(MEDIA_TYPES) === 'text/html'
}

/** A CORS preflight: OPTIONS with an Origin and the method asked for. A plain OPTIONS is guarded like a GET. */
function isPreflight (request: FastifyRequest): boolean {
  const headers = request.headers
  return headers.origin !== undefined && headers['access-control-request-method'] !== undefined
}

/** Validates `loginGuard()` options; throws an error naming the bad one. */
function checkGuardOptions (options: LoginGuardOptions): LoginGuardOptions {
  if (options === null || typeof options !== 'object') fail('loginGuard options must be an object')
  checkUnknown(options, KNOWN_OPTIONS, 'loginGuard.')
  boolOption(options.fresh, 'loginGuard.fresh', false)
  boolOption(options.respond, 'loginGuard.respond', true)
  if (optionalDuration(options.freshFor, 'loginGuard.freshFor', SECOND, 'one second') !== undefined && options.fresh !== true) {
    fail('loginGuard.freshFor needs fresh: true: without it the guard would not check freshness at all')
  }
  checkUrl(optionalString(options.loginUrl, 'loginGuard.loginUrl'), 'loginGuard.loginUrl')
  optionalFunction(options.onUnauthorized, 'loginGuard.onUnauthorized')
  return options
}

/** How one guard answers, under one registration (its pages and handlers fall back to the registration's). */
interface Answers {
  loginPage: Page | undefined
  refreshPage: Page | undefined
  onUnauthorized: GuardHandler | undefined
  onNeedsRefresh: GuardHandler | undefined
}

/**
 * Builds a guard. `bound`: the registration of the decorators (`fastify.loginRequired`);
 * without it (the package's exports) the guard finds the registration serving the route.
 */
export function createGuard (bound: Registration | undefined, guardOptions: LoginGuardOptions = {}): LoginGuard {
  checkGuardOptions(guardOptions)
  const fresh = guardOptions.fresh === true
  const respond = guardOptions.respond !== false
  const answers = new WeakMap<Registration, Answers>()

  function answersOf (registration: Registration): Answers {
    let found = answers.get(registration)
    if (found === undefined) {
      const { options } = registration
      found = {
        loginPage: loginPage(guardOptions.loginUrl ?? options.loginUrl, options.loginMessage),
        refreshPage: loginPage(guardOptions.loginUrl ?? options.refreshUrl, options.refreshMessage),
        onUnauthorized: guardOptions.onUnauthorized ?? options.onUnauthorized,
        onNeedsRefresh: guardOptions.onUnauthorized ?? options.onNeedsRefresh
      }
      answers.set(registration, found)
    }
    return found
  }

  /**
   * As a preHandler hook it is callback style, so a request that passes costs no
   * promise. Called by hand (`await loginRequired(request, reply)`) it returns a
   * promise instead, which settles once a refusal's response is sent (Fastify's
   * reply is a thenable for that).
   */
  function loginGuard (request: FastifyRequest, reply: FastifyReply, done?: GuardDone): void | Promise<void> {
    if (typeof done !== 'function') {
      return new Promise((resolve, reject) => {
        check(request, reply, (error) => (error ? reject(error) : resolve()), () => reply.then(() => resolve(), reject))
      })
    }
    check(request, reply, done, noop)
  }
  return loginGuard as LoginGuard

  function check (request: FastifyRequest, reply: FastifyReply, done: GuardDone, sent: () => void): void {
    const registration = bound ?? registrationOf(request)
    if (registration === undefined) {
      request.log.error({ url: request.url }, 'fastify-login: a guard ran on a route no fastify-login registration covers: register the plugin in this scope or a parent, and await it')
      return done(new SetupError('no fastify-login registration covers this route'))
    }
    const { options } = registration
    if (request.user === null) {
      if (options.exemptMethods.has(request.method) && (request.method !== 'OPTIONS' || isPreflight(request))) {
        // Not refused, and still no handler runs for nobody: the guard answers.
        if (!respond) return done(new LoginRequiredError())
        reply.code(204).send()
        return sent()
      }
      registration.report.refused(request, false, respond ? 'refused' : 'failed')
      return refuse(registration, request, reply, answersOf(registration).onUnauthorized, answersOf(registration).loginPage, LoginRequiredError, done, sent)
    }
    if (fresh && !isFresh(registration, request, guardOptions.freshFor ?? options.freshFor)) {
      registration.report.refused(request, true, respond ? 'refused' : 'failed')
      return refuse(registration, request, reply, answersOf(registration).onNeedsRefresh, answersOf(registration).refreshPage, FreshLoginRequiredError, done, sent)
    }
    done()
  }

  /**
   * Answers a refused request. Once a response is sent, `done` is not called: the
   * route never runs. Whatever goes wrong in a handler refuses too: a handler that
   * throws nothing (`throw undefined`) must not let the request through.
   */
  function refuse (
    registration: Registration, request: FastifyRequest, reply: FastifyReply, handler: GuardHandler | undefined,
    page: Page | undefined, ErrorType: new () => Error, done: GuardDone, sent: () => void
  ): void {
    // As an @fastify/auth strategy: fail, and let @fastify/auth decide.
    if (!respond) return done(new ErrorType())
    if (handler !== undefined) return runHandler(handler, request, reply, ErrorType, done, sent)
    if (page !== undefined && isNavigation(request)) {
      reply.redirect(page.redirect(registration, request))
      return sent()
    }
    done(new ErrorType())
  }
}

/**
 * Runs a custom refusal handler. Fastify's rule for a hook that answers is "send, and
 * return the reply"; a handler may also send without returning it. Fastify has no
 * flag for "a response has started" (`reply.sent` turns true only once the onSend
 * hooks, such as an async session store's save, are done), so this reply's `send`
 * is watched while the handler runs: a handler that sent nothing is refused with
 * the guard's error, whatever it returned.
 */
function runHandler (
  handler: GuardHandler, request: FastifyRequest, reply: FastifyReply, ErrorType: new () => Error, done: GuardDone, sent: () => void
): void {
  let started = false
  const send = reply.send
  reply.send = function (this: FastifyReply, payload?: unknown) {
    started = true
    return send.call(this, payload)
  }
  const settle = (error?: unknown): void => {
    delete (reply as { send?: unknown }).send
    if (started || reply.sent) return sent()
    done(error instanceof Error ? error : new ErrorType())
  }
  let result: unknown
  try {
    result = handler(request, reply)
  } catch (error) {
    return settle(error)
  }
  if (result === reply) return settle()
  Promise.resolve(result).then(() => settle(), settle)
}

function noop (): void {}

/** The package's guards, usable from any scope: they find the registration that serves the route. */
export const loginRequired: LoginGuard = createGuard(undefined)
export const freshLoginRequired: LoginGuard = createGuard(undefined, { fresh: true })
export function loginGuard (options?: LoginGuardOptions): LoginGuard {
  return createGuard(undefined, options)
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import { isPromise, toUser } from './callbacks'
import { checkSession, type Verdict } from './session-check'
import type { Registration } from './registration'
import { noStore } from './responses'
import type { Lapsed } from './remember/remember-me'
import { isExcluded } from './routes'
import { setUser } from './request-user'
import { decodeState } from './state'
import { testLogin, testing, ticketOf } from './test-login'

type Done = (error?: Error) => void

/**
 * The `onRequest` hook that sets `request.user`: from the session, else from the
 * remember cookie, else from `loadUserFromRequest`. Callback style, so that a request
 * with no login costs a property read or two and no promise, and a session login
 * with a sync loader (and, with the registry, a login its cache has seen stand)
 * none either. What a session login must pass is `session-check.ts`.
 */
export function createRequestHook (registration: Registration) {
  const { options, sessions, keys, remember } = registration
  const excluding = options.exclude.length > 0
  const onlySession = options.loadUserFromRequest === undefined && options.remember === undefined

  return function loadLoginUser (request: FastifyRequest, reply: FastifyReply, done: Done): void {
    if (testing.enabled) {
      const ticket = ticketOf(request)
      if (ticket !== undefined) return testLogin(registration, request, reply, ticket, done)
    }
    if (excluding && isExcluded(request)) return done()
    const session = sessions.of(request)
    const raw = session?.[keys.state]
    if (raw === undefined) {
      if (onlySession || (options.loadUserFromRequest === undefined && remember.read(request) === undefined)) return done()
      return settle(withoutSession(registration, request, reply, undefined), done)
    }
    const state = decodeState(raw)
    if (state === undefined) {
      // Not a login this version wrote (an older format, a value put there by hand): no login.
      sessions.write(session!, keys.state, undefined)
      noStore(reply)
      return settle(withoutSession(registration, request, reply, undefined), done)
    }

    let verdict: Verdict | Promise<Verdict>
    try {
      verdict = checkSession(registration, request, reply, session!, state)
    } catch (error) {
      return done(error as Error)
    }
    if (isPromise(verdict)) return settle(verdict.then((answer) => afterCheck(registration, request, reply, answer)), done)
    const next = afterCheck(registration, request, reply, verdict)
    if (next === undefined) return done()
    settle(next, done)
  }
}

function settle (work: Promise<unknown>, done: Done): void {
  work.then(() => done(), done)
}

/** What to do once the session's login was judged: nothing more, or try what else the request carries. */
function afterCheck (registration: Registration, request: FastifyRequest, reply: FastifyReply, verdict: Verdict): Promise<void> | undefined {
  if (verdict === undefined) return undefined
  return withoutSession(registration, request, reply, verdict.lapsed, verdict.cookieTried !== true)
}

/**
 * No session login stands: try the remember cookie, then `loadUserFromRequest`.
 * `lapsed`: the session held a login that no longer stands, whose user was loaded
 * already; a remember cookie may only restore that same user.
 */
export async function withoutSession (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, lapsed: Lapsed | undefined, tryCookie = true
): Promise<void> {
  const { options, remember } = registration
  const cookie = tryCookie ? remember.read(request) : undefined
  if (cookie !== undefined && await remember.restore(request, reply, cookie, lapsed)) return

  const loadUserFromRequest = options.loadUserFromRequest
  if (loadUserFromRequest !== undefined) {
    const user = toUser(await loadUserFromRequest(request), 'loadUserFromRequest')
    if (user !== null) {
      setUser(request, user, 'request')
      registration.report.fromRequest(request, user)
    }
  }
}

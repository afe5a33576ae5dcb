import type { FastifyReply, FastifyRequest } from 'fastify'
import { isPromise, toUser } from './callbacks'
import { expireImpersonation, withImpersonator } from './impersonation'
import { endLogin, settleEnd } from './login-end'
import { MINUTE, SECOND } from './option-checks'
import type { ResolvedOptions } from './options'
import type { Registration } from './registration'
import type { Standing } from './registry/registry'
import type { Lapsed } from './remember/remember-me'
import { kEndReason, setUser } from './request-user'
import { recordVisit } from './session-login'
import type { AnySession } from './sessions'
import type { LoginState } from './state'
import type { LoginEndReason } from './types'

/**
 * Does the login found in the session still stand? In order: its timeouts, its
 * registry record, its user (still there, same `authVersion`), its client (session
 * protection). A login that stands sets `request.user`; one that does not ends here
 * (`login-end.ts`), and the request may still be logged in by its remember cookie
 * or `loadUserFromRequest`.
 *
 * The answer: `undefined` when nothing more is to be done, else what to try next.
 */
export type Verdict = undefined | { lapsed: Lapsed | undefined, cookieTried?: boolean }

/**
 * Idleness is recorded at most once a minute (and in whole seconds), so the last
 * recorded visit may lag the real one by that much: a login ends only when even
 * the latest possible real visit is older than `idleTimeout`. Never early, at most
 * a minute late.
 */
const IDLE_SLACK = MINUTE + SECOND

type Lapse = 'idle' | 'absolute' | 'impersonation'

/** Why the login lapsed, if it did; past both timeouts, the one that came first (what the user is told). */
function lapseOf (options: ResolvedOptions, state: LoginState, now: number): Lapse | undefined {
  if (state.impersonationEnds !== undefined && now >= state.impersonationEnds) return 'impersonation'
  // A login from before the option was on has no time to count from: it is over (fail closed).
  const absoluteEnd = options.absoluteTimeout === undefined ? Infinity : (state.startedAt ?? 0) + options.absoluteTimeout
  const idleEnd = options.idleTimeout === undefined ? Infinity : (state.seenAt ?? state.startedAt ?? 0) + options.idleTimeout + IDLE_SLACK
  if (now > idleEnd && idleEnd < absoluteEnd) return 'idle'
  if (now > absoluteEnd) return 'absolute'
  return undefined
}

export function checkSession (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState
): Verdict | Promise<Verdict> {
  const { registry } = registration
  const now = Date.now()
  const lapse = lapseOf(registration.options, state, now)
  if (lapse === 'impersonation') return impersonationOver(registration, request, reply, session, state, now)
  if (lapse !== undefined) return timedOut(registration, request, reply, session, state, lapse)
  const standing = registry === undefined ? true : registry.check(state.userId, state.loginId, now)
  if (isPromise(standing)) return standing.then((answer) => afterStanding(registration, request, reply, session, state, answer, now))
  return afterStanding(registration, request, reply, session, state, standing, now)
}

function afterStanding (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, standing: Standing, now: number
): Verdict | Promise<Verdict> {
  if (standing !== true) {
    // Ended by the store (here or on another instance); an expiry ('idle') nobody reported yet is reported now.
    return endLogin(registration, request, reply, session, state, standing, { shown: true, record: standing === 'idle' ? 'report' : 'ended' })
      .then(() => ({ lapsed: undefined }))
  }
  const loaded = registration.options.loadUser(state.userId, request)
  if (isPromise(loaded)) return loaded.then((user) => judge(registration, request, reply, session, state, user, now))
  return judge(registration, request, reply, session, state, loaded, now)
}

/**
 * An impersonation past its `maxAge`: back to the staff login, checked like any.
 * Unless the impersonation had ended already (stopped, revoked): then this is a copy
 * of a session cookie from before (`@fastify/secure-session` keeps the session in
 * it), and nothing in it stands, not even the staff login it carries.
 */
async function impersonationOver (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, now: number
): Promise<Verdict> {
  const { registry } = registration
  if (registry !== undefined) {
    const standing = await registry.check(state.userId, state.loginId, now)
    if (standing !== true) return afterStanding(registration, request, reply, session, state, standing, now)
  }
  const staff = await expireImpersonation(registration, request, reply, session, state)
  return staff === undefined ? undefined : checkSession(registration, request, reply, staff.session, staff.state)
}

/** The login's user was loaded: is it still theirs, from their client? */
function judge (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, loaded: unknown, now: number
): Verdict | Promise<Verdict> {
  const { options, remember } = registration
  const user = toUser(loaded, 'loadUser')
  if (user === null) {
    // The user is gone: the login ends, and the loader is not asked again on the next request.
    return endLogin(registration, request, reply, session, state, 'revoked', { shown: false, record: 'end' })
      .then(() => ({ lapsed: { userId: state.userId, user } }))
  }
  if (options.authVersion !== undefined && state.version !== registration.versionOf(user)) {
    return endLogin(registration, request, reply, session, state, 'authVersion', { shown: true, record: 'end' })
      .then(() => ({ lapsed: { userId: state.userId, user } }))
  }
  // 'strong' protection checks every request; 'basic' only makes a request not fresh,
  // so its fingerprint is compared when the request's freshness is asked (request-user.ts).
  const protection = options.protection
  if (protection?.mode === 'strong' && state.fingerprint !== registration.fingerprintOf(request)) {
    registration.report.protected(request, state.userId, protection.mode)
    // Also when this request did not carry it: it may be scoped to another path.
    remember.clear(reply)
    return endLogin(registration, request, reply, session, state, 'protection', { shown: true, record: 'end' }).then(() => undefined)
  }
  if (state.impersonationEnds !== undefined) return withImpersonator(registration, request, reply, session, state, user)

  setUser(request, user, 'session', state.loginId)
  recordVisit(registration, session, state, now)
  if (options.remember?.refresh === true) {
    const cookie = remember.read(request)
    if (cookie !== undefined) return remember.refresh(request, reply, cookie, state, user)?.then(() => undefined)
  }
  return undefined
}

/**
 * An idle or absolute timeout. A remembered login comes back from its cookie (not
 * fresh, its own `absoluteTimeout` counted from the restore), keeping its registry
 * id like any restore; without a cookie that restores it, the login ends for good.
 */
async function timedOut (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState, lapse: LoginEndReason
): Promise<Verdict> {
  const { remember } = registration
  const cookie = state.remember === undefined ? undefined : remember.read(request)
  await endLogin(registration, request, reply, session, state, lapse, { shown: true, record: cookie === undefined ? 'end' : 'keep' })
  if (cookie === undefined) return { lapsed: undefined }
  if (await remember.restore(request, reply, cookie, undefined)) {
    delete request[kEndReason]
    return undefined
  }
  await settleEnd(registration, request, state, lapse, { shown: true, record: 'end' })
  return { lapsed: undefined, cookieTried: true }
}

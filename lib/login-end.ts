import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Registration } from './registration'
import { kEndReason, setUser } from './request-user'
import { noStore } from './responses'
import type { AnySession } from './sessions'
import { decodeState, type LoginState } from './state'
import type { LoginEndReason } from './types'

/**
 * Ends a login found in the session and reports why: the one place every end but a
 * logout goes through (a timeout, a revocation seen from here, a changed
 * `authVersion`, a `strong` protection hit, a user the loader no longer finds).
 *
 * The login leaves the session (a login change: the session is saved and its cookie
 * sent again, in a response no shared cache keeps). Its registry record ends with
 * it (`record: 'end'`), unless the store already ended it (`'ended'`: whoever ended
 * it reported it; `'report'`: it expired unseen, reported here), or a remember
 * cookie is about to restore it under the same id (`'keep'`: `settleEnd` finishes
 * the end if the cookie does not).
 */
export async function endLogin (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState,
  reason: LoginEndReason, how: { shown: boolean, record: 'end' | 'ended' | 'report' | 'keep' }
): Promise<void> {
  const { sessions, keys, registry } = registration
  const staff = state.impersonationEnds === undefined ? undefined : decodeState(session[keys.staff])
  sessions.write(session, keys.state, undefined)
  if (state.impersonationEnds !== undefined) sessions.write(session, keys.staff, undefined)
  noStore(reply)
  setUser(request, null, null, registry === undefined ? undefined : null)
  if (how.record === 'keep') {
    tell(request, reason, how.shown)
    return
  }
  await settleEnd(registration, request, state, reason, { shown: how.shown, record: how.record })
  // An impersonation this plugin ends takes the staff login waiting under it along (idle, protection...).
  // Not one the store ended already: that may be a stale copy of the session, while the staff login goes on.
  if (staff !== undefined && how.record === 'end') await settleEnd(registration, request, staff, reason, { shown: false, record: 'end' })
}

/**
 * The end of a login that left the session: its registry record and its report. A
 * record that ended before (revoked from another device, then found timed out here)
 * was reported by whoever ended it, and this browser is told that first reason: one
 * end, one `loginEnded`. A record that expired on its own ends nothing in the store:
 * its end is reported here.
 */
export async function settleEnd (
  registration: Registration, request: FastifyRequest, state: LoginState, reason: LoginEndReason,
  how: { shown: boolean, record: 'end' | 'ended' | 'report' }
): Promise<void> {
  const { registry } = registration
  let told = reason
  let report = how.record !== 'ended'
  if (how.record === 'end' && registry !== undefined && state.loginId !== undefined) {
    const end = await registry.endOne(request, state.userId, state.loginId, reason)
    told = end.reason
    report = !end.reported
  }
  if (report) registration.report.ended(request, { userId: state.userId, loginId: state.loginId ?? null, reason })
  tell(request, told, how.shown)
}

/** What this browser is told ("you were logged out on another device"): never a logout, nor a user that is gone. */
function tell (request: FastifyRequest, reason: LoginEndReason, shown: boolean): void {
  if (!shown) return
  if (reason === 'logout') delete request[kEndReason]
  else request[kEndReason] = reason
}

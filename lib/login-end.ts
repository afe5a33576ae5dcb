import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Registration } from './registration'
import { kEndReason, setUser } from './request-user'
import { noStore } from './responses'
import type { AnySession } from './sessions'
import type { LoginState } from './state'
import type { LoginEndReason } from './types'

/**
 * Ends a login found in the session and reports why: the one place every end but a
 * logout goes through (a timeout, a revocation seen from here, a changed
 * `authVersion`, a `strong` protection hit, a user the loader no longer finds).
 *
 * The login leaves the session (a login change: the session is saved and its cookie
 * sent again, in a response no shared cache keeps). Its registry record ends with
 * it, unless `record` is false: the store already ended it (then whoever ended it
 * reported it), or a remember cookie is about to restore it under the same id.
 */
export async function endLogin (
  registration: Registration, request: FastifyRequest, reply: FastifyReply, session: AnySession, state: LoginState,
  reason: LoginEndReason, how: { shown: boolean, record: 'end' | 'ended' | 'report' | 'keep' }
): Promise<void> {
  const { sessions, keys, registry } = registration
  sessions.write(session, keys.state, undefined)
  if (state.impersonationEnds !== undefined) sessions.write(session, keys.staff, undefined)
  noStore(reply)
  setUser(request, null, null, registry === undefined ? undefined : null)
  // What this browser is told ("you were logged out on another device"): not for a user that is gone.
  if (how.shown && reason !== 'logout') request[kEndReason] = reason
  // A record that expired on its own meanwhile ends nothing in the store: its end is reported here.
  const ended = how.record === 'end' && registry !== undefined && state.loginId !== undefined
    ? await registry.end(request, state.userId, [state.loginId], reason)
    : 0
  if (ended === 0 && (how.record === 'end' || how.record === 'report')) {
    registration.report.ended(request, { userId: state.userId, loginId: state.loginId ?? null, reason })
  }
}

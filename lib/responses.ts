import type { FastifyReply, FastifyRequest } from 'fastify'
import { LoginError } from './errors'

/**
 * What a response that changes a login carries, checked in one `onSend` hook:
 *
 * - `Cache-Control: no-store` and `Vary: Cookie`, so no shared cache keeps a login
 *   cookie. Written in onSend, after the route, so a route's own Cache-Control
 *   cannot undo them.
 * - Proof that every `loginUser`, `logoutUser`, `confirmLogin` or `impersonate` of
 *   the reply finished before it was sent. A route that forgot to `await` one would
 *   otherwise answer 2xx without the login (the session plugin's own onSend, which
 *   runs before this one, saved the session as it was then). Such a response fails
 *   with a 500 and a log line naming the call, and the late login is undone.
 *
 * Requests that change no login pay one property read here.
 */

const kMarks = Symbol('fastify-login.response')

/** A login call of this reply: what it was, whether it settled, and how to tell the response carries it. */
interface TrackedCall {
  name: string
  settled: boolean
  promise: Promise<unknown>
  /** Set by the call when it finishes: does the response being sent carry its session? */
  carried: ((reply: FastifyReply) => boolean) | undefined
  /** Takes a login that finished too late out again (its response failed). */
  undo: (() => Promise<void>) | undefined
}

interface Marks {
  noStore: boolean
  calls: TrackedCall[] | undefined
  /** The failure was reported: the error response runs the onSend hooks again. */
  failed: boolean
}

type MarkedReply = FastifyReply & { [kMarks]?: Marks }

function marksOf (reply: FastifyReply): Marks {
  const marked = reply as MarkedReply
  return (marked[kMarks] ??= { noStore: false, calls: undefined, failed: false })
}

/** Marks a response that changes the login: no shared cache may keep it. */
export function noStore (reply: FastifyReply): void {
  marksOf(reply).noStore = true
}

/** What a login call reports back to `track` once it finished. */
export interface CallOutcome {
  carried?: (reply: FastifyReply) => boolean
  undo?: () => Promise<void>
}

/**
 * Runs a login call of `reply` under watch: the response will not go out as if it
 * had finished when it has not. `run` reports how to check and undo its effect.
 */
export function track<T> (reply: FastifyReply, name: string, run: (outcome: CallOutcome) => Promise<T>): Promise<T> {
  const marks = marksOf(reply)
  const outcome: CallOutcome = {}
  const call: TrackedCall = { name, settled: false, promise: Promise.resolve(), carried: undefined, undo: undefined }
  const promise = run(outcome).finally(() => {
    call.settled = true
    call.carried = outcome.carried
    call.undo = outcome.undo
  })
  // The route may never look at this promise (a forgotten await): its failure must not crash the process.
  call.promise = promise.catch(() => {})
  ;(marks.calls ??= []).push(call)
  return promise
}

/** The `onSend` hook: the headers of a login change, and the check that its calls finished in time. */
export function checkResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void): void {
  const marks = (reply as MarkedReply)[kMarks]
  if (marks === undefined) return done(null, payload)
  if (marks.noStore) {
    reply.header('cache-control', 'no-store')
    const vary = reply.getHeader('vary')
    if (vary === undefined) {
      reply.header('vary', 'Cookie')
    } else if (!/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(String(vary))) {
      reply.header('vary', `${String(vary)}, Cookie`)
    }
  }
  const late = marks.failed || marks.calls === undefined
    ? undefined
    : marks.calls.find((call) => !call.settled || (call.carried !== undefined && !call.carried(reply)))
  if (late === undefined) return done(null, payload)

  marks.failed = true
  request.log.error({ call: late.name }, `fastify-login: reply.${late.name}() did not finish before the response was sent: await it. The response fails instead of answering without it`)
  // Let it finish, take its login out again, then fail the response.
  late.promise.then(async () => {
    await late.undo?.()
  }).then(() => done(new LoginError(`reply.${late.name}() must be awaited before the response is sent`)), () => {
    done(new LoginError(`reply.${late.name}() must be awaited before the response is sent`))
  })
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import { logIn } from './login'
import type { Registration } from './registration'
import type { UserObject } from './types'

/**
 * What `fastify-login/testing` asks a registration to do: log `user` in. It rides on
 * the request object that `app.inject()` builds (a prototype property of a request
 * class made for that one call), so no request from the network can carry it.
 */
export interface Ticket {
  user: UserObject
  key: string
  fresh: boolean
  remember: boolean
  maxAge: number | undefined
}

export const kTicket = Symbol('fastify-login.testLogin')

/** Flipped on when `fastify-login/testing` is loaded: until then the hook never looks for tickets. */
export const testing = { enabled: false }

export function ticketOf (request: FastifyRequest): Ticket | undefined {
  return (request.raw as { [kTicket]?: Ticket })[kTicket]
}

/** The answer of a ticket's request: the route never runs. */
export const TICKET_DONE = 'x-fastify-login-test'

/** Logs the ticket's user in and answers 204, or says which login this URL belongs to. */
export function testLogin (registration: Registration, request: FastifyRequest, reply: FastifyReply, ticket: Ticket, done: (error?: Error) => void): void {
  const key = registration.key
  if (ticket.key !== key) {
    reply.code(409).send({ error: `this URL is under the login with key '${key}', not '${ticket.key}': pass the url of a route under that login` })
    return
  }
  logIn(registration, reply, ticket.user, { fresh: ticket.fresh, remember: ticket.remember, maxAge: ticket.maxAge, force: true, method: 'test' })
    .then(() => {
      reply.code(204).header(TICKET_DONE, key).send()
    }, done)
}

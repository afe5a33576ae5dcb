// An app that has not described its user yet: `LoginUser` is `{}`, which any
// string or number would satisfy. Every place a user goes in still takes only an
// object (`UserObject`), as the plugin does at run time. This folder is its own
// tsd run (npm run test:tsd): the other files' declaration merging would apply here.
import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyLogin, { type FastifyLoginOptions, type LoginUser, type UserObject } from '../..'
import { loginAs } from '../../dist/testing'

expectType<LoginUser>({})
expectAssignable<LoginUser>('bob')
expectNotAssignable<UserObject>('bob')
expectNotAssignable<UserObject>(1)
expectNotAssignable<UserObject>(null)
expectAssignable<UserObject>({ id: 1 })

const app = Fastify()

// The loaders return an object, or nothing.
expectAssignable<FastifyLoginOptions>({ loadUser: (id: string) => ({ id }) })
expectAssignable<FastifyLoginOptions>({ loadUser: async () => null, loadUserFromRequest: async () => undefined })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => 'x' })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => true })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, loadUserFromRequest: () => 'token-user' })
expectError(app.register(fastifyLogin, { loadUser: () => 'x' }))
expectError(app.register(fastifyLogin, { loadUser: () => null, loadUserFromRequest: () => 'x' }))

// canImpersonate is handed users, never strings; it answers a boolean.
expectAssignable<FastifyLoginOptions>({
  loadUser: () => null,
  canImpersonate: (staff: object, target: object, request: FastifyRequest) => staff !== target && request.method === 'POST'
})
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, canImpersonate: (staff: string, target: string) => staff !== target })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, canImpersonate: () => 'yes' })

// The reply methods and the testing helper take an object.
app.post('/login', async (request, reply) => {
  expectType<Promise<boolean>>(reply.loginUser({ id: 1 }))
  expectError(reply.loginUser('bob'))
  expectError(reply.loginUser(1))
  expectError(reply.loginUser(null))
  expectType<Promise<void>>(reply.impersonate({ id: 2 }))
  expectError(reply.impersonate('alice'))
  expectError(reply.impersonate(2, { maxAge: 60_000 }))
  return reply
})
expectType<Promise<unknown>>(loginAs(app, { id: 1 }).then((login) => login.cookies))
expectError(loginAs(app, 'bob'))
expectError(loginAs(app, 1))

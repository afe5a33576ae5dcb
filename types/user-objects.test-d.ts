// Once the app describes its user, every place a user goes in takes that user,
// and only an object (unaugmented/user-objects.test-d.ts: before it does).
import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyLogin, { type FastifyLoginOptions, type LoginUser, type UserObject } from '..'
import { loginAs } from '../dist/testing'

declare module '..' {
  interface LoginUser {
    id: number
    username: string
  }
}

const user = { id: 1, username: 'user1' }
expectAssignable<UserObject>(user)
expectNotAssignable<UserObject>('user1')
expectNotAssignable<UserObject>({ id: 1 })

const app = Fastify()

expectAssignable<FastifyLoginOptions>({ loadUser: async () => user, loadUserFromRequest: () => user })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => 'user1' })
expectNotAssignable<FastifyLoginOptions>({ loadUser: async (id: string) => ({ id }) })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, loadUserFromRequest: () => 'user1' })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, loadUserFromRequest: async () => ({ id: 1 }) })
expectError(app.register(fastifyLogin, { loadUser: () => 'user1' }))

// canImpersonate is handed the app's users.
expectAssignable<FastifyLoginOptions>({
  loadUser: () => null,
  canImpersonate: (staff, target, request) => {
    expectType<LoginUser>(staff)
    expectType<LoginUser>(target)
    expectType<FastifyRequest>(request)
    return staff.username === 'admin' && target.id !== staff.id
  }
})
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, canImpersonate: (staff: string) => staff === 'admin' })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, canImpersonate: (staff: { role: string }) => staff.role === 'admin' })

app.post('/login', async (request, reply) => {
  expectType<Promise<boolean>>(reply.loginUser(user))
  expectError(reply.loginUser('user1'))
  expectError(reply.loginUser({ id: 1 }))
  expectType<Promise<void>>(reply.impersonate(user))
  expectError(reply.impersonate('user1'))
  expectError(reply.impersonate({ username: 'user1' }))
  // The request's own user goes back in as it is.
  expectType<Promise<boolean>>(reply.loginUser(request.requireUser()))
  return reply
})

expectError(loginAs(app, 'user1'))
expectError(loginAs(app, { id: 1 }))

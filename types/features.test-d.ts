import Fastify, { type FastifyRequest } from 'fastify'
import { createClient } from 'redis'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyLogin, {
  MemoryLoginStore,
  RedisLoginStore,
  SetupError,
  StoreError,
  CallbackError,
  type FastifyLoginOptions,
  type LoginGuard,
  type LoginInfo,
  type LoginStore,
  type LoginUser,
  type LoginsOptions,
  type SessionProtection
} from '..'
import { loginAs, type LoginAsOptions, type TestLogin } from '../dist/testing'

// The user type of index.test-d.ts's declaration merging applies here too.
declare module '..' {
  interface LoginUser {
    id: number
    username: string
  }
}

const app = Fastify()

// The options of several logins, the registry, and the parity options.
const options: FastifyLoginOptions = {
  loadUser: () => null,
  key: 'staff',
  loginUrl: 'https://auth.example.com/login',
  nextInSession: true,
  allowedRedirectOrigins: ['https://app.example.com'],
  loginMessage: 'Please log in.',
  refreshMessage: 'Please confirm your password.',
  sessionProtection: { mode: 'strong', fingerprint: (request) => request.headers['user-agent'] ?? '' },
  logins: { store: new MemoryLoginStore(), graceMs: 5000 },
  idleTimeout: 14 * 24 * 3600 * 1000
}
expectAssignable<FastifyLoginOptions>(options)
expectAssignable<FastifyLoginOptions>({ loadUser: () => null, logins: true })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, logins: { graceMs: '5s' } })
// 0.3 moved the registry's idleTimeout to the top level, where it holds without the registry too.
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, logins: { idleTimeout: 60_000 } })
expectNotAssignable<SessionProtection>({ mode: 'paranoid', fingerprint: () => '' })
expectNotAssignable<SessionProtection>({ mode: 'basic', fingerprint: () => 1 })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, key: 1 })

// Stores: both implement the documented interface; Redis takes the app's own node-redis client.
expectAssignable<LoginStore>(new MemoryLoginStore())
expectAssignable<LoginStore>(new RedisLoginStore({ client: createClient() }))
expectAssignable<LoginStore>(new RedisLoginStore({ client: createClient(), prefix: 'app:logins:' }))
expectError(new RedisLoginStore({}))
expectAssignable<LoginsOptions>({ store: new RedisLoginStore({ client: createClient() }) })

app.get('/account', { preHandler: app.loginRequired }, async (request, reply) => {
  // On a guarded route, requireUser() is the user, typed, with no `!`.
  const user = request.requireUser()
  expectType<LoginUser>(user)
  expectType<string>(user.username)
  expectType<boolean>(request.isRemembered())
  expectType<string | null>(request.loginId)
  expectType<Promise<void>>(reply.logoutUser({ everywhere: true }))
  expectError(reply.logoutUser({ everywhere: 'yes' }))
  return user.username
})

// An @fastify/auth strategy: a guard that fails without answering.
expectType<LoginGuard>(app.loginGuard({ respond: false }))
expectError(app.loginGuard({ respond: 'no' }))

// The registry through the login manager.
expectType<string>(app.loginManager.key)
expectType<Promise<LoginInfo[]>>(app.loginManager.listLogins(1))
expectType<Promise<LoginInfo[]>>(app.loginManager.listLogins('1'))
expectType<Promise<void>>(app.loginManager.revokeLogin(1, 'login-id'))
expectType<Promise<number>>(app.loginManager.revokeLogins(1, { except: 'login-id' }))
expectType<Promise<number>>(app.loginManager.revokeLogins(1))
app.loginManager.listLogins(1).then((logins) => {
  const [login] = logins
  if (login !== undefined) {
    expectType<string>(login.id)
    expectType<number>(login.lastSeenAt)
    expectType<'credentials' | 'remember' | 'test' | 'impersonation'>(login.method)
    expectType<boolean>(login.remembered)
  }
})
app.loginManager.on('rememberTheft', (request, userId) => {
  expectType<FastifyRequest>(request)
  expectType<string>(userId)
})

// Errors with stable codes.
expectType<'FST_LOGIN_SETUP'>(new SetupError('x').code)
expectType<'FST_LOGIN_STORE'>(new StoreError().code)
expectType<'FST_LOGIN_CALLBACK'>(new CallbackError('x').code)

// The testing entry point.
expectType<Promise<TestLogin>>(loginAs(app, { id: 1, username: 'user1' }))
expectAssignable<LoginAsOptions>({ fresh: false, remember: true, key: 'staff', url: '/admin/', headers: { 'user-agent': 'test' } })
expectError(loginAs(app, { id: 1 }))
loginAs(app, { id: 1, username: 'user1' }).then((login) => {
  expectType<Record<string, string>>(login.cookies)
  app.inject({ url: '/account', cookies: login.cookies })
  app.inject({ url: '/account', headers: login.headers })
})

expectType<typeof fastifyLogin>(fastifyLogin.default)

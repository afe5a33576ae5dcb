// The guards the package exports (0.3): `loginRequired`, `freshLoginRequired` and
// `loginGuard(options)`, usable as a preHandler in any scope and as an
// @fastify/auth strategy, the same as the instance's.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyTypeProvider, type preHandlerHookHandler } from 'fastify'
import fastifyAuth from '@fastify/auth'
import { expectAssignable, expectError, expectType } from 'tsd'
import fastifyLogin, {
  freshLoginRequired,
  loginGuard,
  loginRequired,
  type GuardDone,
  type LoginGuard,
  type LoginGuardOptions
} from '..'

expectType<LoginGuard>(loginRequired)
expectType<LoginGuard>(freshLoginRequired)
expectType<LoginGuard>(loginGuard())
expectType<LoginGuard>(loginGuard({ loginUrl: '/admin/login', onUnauthorized: (request, reply) => reply.code(404).send() }))
expectType<typeof loginRequired>(fastifyLogin.loginRequired)
expectType<typeof loginGuard>(fastifyLogin.loginGuard)
expectAssignable<preHandlerHookHandler>(loginRequired)
expectAssignable<preHandlerHookHandler>(loginGuard({ fresh: true }))

const app = Fastify()

// On a route, in an array, through route(), and as a scope-wide hook.
app.get('/account', { preHandler: loginRequired }, async (request) => request.user)
app.post('/password', { preHandler: [loginRequired, freshLoginRequired] }, async () => 'ok')
app.route({ method: ['GET', 'POST'], url: '/admin', preHandler: loginGuard({ fresh: true, loginUrl: '/admin/login' }), handler: async () => 'ok' })
app.addHook('preHandler', loginRequired)

// In a plugin's scope: an encapsulated plugin, a prefixed one, a plugin with options.
app.register(async (scope) => {
  scope.addHook('preHandler', freshLoginRequired)
  scope.get('/settings', { preHandler: loginGuard({ fresh: true, freshFor: 5 * 60_000 }) }, async () => 'ok')
}, { prefix: '/settings' })
app.register(async (scope: FastifyInstance, options: { area: string }) => {
  scope.get(`/${options.area}`, { preHandler: loginRequired }, async () => 'ok')
}, { area: 'reports' })

// On routes with their own request types, and under a type provider.
app.get<{ Querystring: { page: string }, Params: { id: string } }>('/items/:id', { preHandler: loginRequired }, async (request) => {
  expectType<string>(request.query.page)
  return request.params.id
})
app.post<{ Body: { title: string } }>('/items', { preHandler: [freshLoginRequired, loginGuard({ respond: false })] }, async (request) => request.body.title)
interface StringProvider extends FastifyTypeProvider {
  validator: string
  serializer: string
}
app.withTypeProvider<StringProvider>().get('/typed', { preHandler: loginRequired }, async () => 'ok')

// Called by hand: with done (callback style) or awaited.
app.get('/manual', async (request: FastifyRequest, reply: FastifyReply) => {
  expectType<Promise<void>>(loginRequired(request, reply))
  expectType<void>(freshLoginRequired(request, reply, (error?: Error) => { if (error) throw error }))
  await loginGuard({ fresh: true })(request, reply)
  return 'ok'
})
expectAssignable<(request: FastifyRequest, reply: FastifyReply, done: GuardDone) => void>(loginRequired)

// As @fastify/auth strategies: a guard that fails without answering.
app.register(fastifyAuth)
app.after(() => {
  app.get('/either', { preHandler: app.auth([loginGuard({ respond: false }), (request, reply, done) => done()]) }, async () => 'ok')
  app.get('/both', { preHandler: app.auth([loginGuard({ respond: false }), loginGuard({ fresh: true, respond: false })], { relation: 'and' }) }, async () => 'ok')
  app.get('/scoped', { preHandler: app.auth([app.loginGuard({ respond: false })]) }, async () => 'ok')
  app.get('/exported', { preHandler: app.auth([loginRequired, freshLoginRequired]) }, async () => 'ok')
})

// loginGuard({ fresh: true, freshFor }): the freshness window of this guard.
expectAssignable<LoginGuardOptions>({ fresh: true, freshFor: 60_000 })
expectAssignable<LoginGuardOptions>({ fresh: true })
expectAssignable<LoginGuardOptions>({ fresh: false, loginUrl: '/login' })
expectType<LoginGuard>(app.loginGuard({ fresh: true, freshFor: 60_000 }))
expectType<LoginGuard>(loginGuard({ fresh: true, freshFor: 60_000, respond: false }))

// Wrong guard options do not compile.
expectError(loginGuard({ fresh: 'yes' }))
expectError(loginGuard({ fresh: true, freshFor: '5m' }))
// A freshness window on a guard that does not ask for a fresh login would protect nothing.
expectError(loginGuard({ freshFor: 60_000 }))
expectError(loginGuard({ fresh: false, freshFor: 60_000 }))
expectError(app.loginGuard({ freshFor: 60_000 }))
expectError(loginGuard({ respond: 'no' }))
expectError(loginGuard({ loginURL: '/login' }))
expectError(loginGuard({ onUnauthorized: 'redirect' }))
expectError(loginRequired())
expectError(loginRequired({}, {}))

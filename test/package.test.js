'use strict'

// What a user installs: the package is packed as `npm pack` packs it from a clean
// tree (no dist/: prepack builds it), the tarball is unpacked into scratch consumer
// projects, and each one is type-checked with tsc (strict, skipLibCheck: false) in
// its module mode and run: ESM with nodenext, CommonJS with node16, and bundler.
// Each uses the default import, the named import, declaration merging of
// LoginUser, requireUser(), the exported guards (loginRequired, freshLoginRequired,
// loginGuard with a freshness window), the lifecycle options, the loginEnded
// event and fastify-login/testing; the ESM one also composes with @fastify/jwt,
// type-checked.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFile } = require('node:child_process')
const { promisify } = require('node:util')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const run = promisify(execFile)
const ROOT = path.join(__dirname, '..')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
// What the consumer projects import, taken from this checkout's node_modules: the
// package's own dependencies (as an install would bring them), the peers and types.
const DEPENDENCIES = [...Object.keys(PACKAGE.dependencies),
  'fastify', '@fastify/cookie', '@fastify/session', '@fastify/secure-session', '@fastify/jwt', '@types/node']

let scratch
let unpacked

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fastify-login-package-'))
  // A clean tree: the files git would give, without dist/.
  const clean = path.join(scratch, 'clean')
  fs.mkdirSync(clean)
  for (const entry of ['lib', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
    fs.cpSync(path.join(ROOT, entry), path.join(clean, entry), { recursive: true })
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(clean, 'node_modules'), 'dir')
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: clean, maxBuffer: 16 * 1024 * 1024 })
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('[')))
  unpacked = packed

  // The consumers' node_modules: the tarball as installed, its dependencies and the peers.
  const modules = path.join(scratch, 'consumers', 'node_modules')
  fs.mkdirSync(path.join(modules, '@fastify'), { recursive: true })
  fs.mkdirSync(path.join(modules, '@types'), { recursive: true })
  await run('tar', ['-xzf', path.join(scratch, packed.filename), '-C', path.join(scratch, 'consumers')])
  fs.renameSync(path.join(scratch, 'consumers', 'package'), path.join(modules, 'fastify-login'))
  for (const name of DEPENDENCIES) fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name), 'dir')
})

after(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true })
})

test('the tarball holds the built package, its sources, the license and the changelog, and nothing of the repository', () => {
  const files = unpacked.files.map((file) => file.path)
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'dist/registry/stores/redis.js',
    'lib/index.ts', 'README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']) {
    assert.ok(files.includes(file), `${file} is in the tarball`)
  }
  assert.deepEqual(files.filter((file) => /^(test|example|bench|types|\.ci)\//.test(file)), [])
  // Every source map points at a source that ships.
  for (const map of files.filter((file) => file.endsWith('.js.map'))) {
    const { sources } = JSON.parse(fs.readFileSync(path.join(scratch, 'consumers', 'node_modules', 'fastify-login', map), 'utf8'))
    for (const source of sources) assert.ok(files.includes(path.posix.join(path.posix.dirname(map), source)), `${map} -> ${source}`)
  }
})

/** A consumer project: its package.json type, its tsconfig and its source, compiled and run. */
function consumer (name, { type, compilerOptions, source }) {
  const dir = path.join(scratch, 'consumers', name)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type }))
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, skipLibCheck: false, types: ['node'], outDir: 'out', rootDir: 'src', target: 'ES2022', ...compilerOptions },
    include: ['src']
  }))
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true })
  for (const [file, text] of Object.entries(source)) fs.writeFileSync(path.join(dir, 'src', file), text)
  return dir
}

const USER_TYPE = `
declare module 'fastify-login' {
  interface LoginUser { id: number; username: string }
}
`

/**
 * The body every consumer runs: an app with the lifecycle options, routes behind the
 * instance's guard and the exported ones, a test login, requests as that user.
 */
const APP_BODY = `
const users = new Map([['1', { id: 1, username: 'user1' }]])
const app = Fastify()
await app.register(fastifyCookie)
await app.register(fastifySession, { secret: 'a-session-secret-that-is-long-enough-0123456789', saveUninitialized: false })
await app.register(fastifyLogin, {
  loadUser: async (id) => users.get(id) ?? null,
  remember: { secret: 'a-remember-secret-that-is-long-enough-0123456789' },
  idleTimeout: 30 * 60_000,
  absoluteTimeout: 12 * 3600_000,
  freshFor: 10 * 60_000
})
app.loginManager.on('loginEnded', (request, end) => {
  const reason: string = end.reason
  request?.log.info({ reason, userId: end.userId }, 'login ended')
})
app.get('/me', { preHandler: app.loginRequired }, async (request) => {
  const user = request.requireUser()
  const name: string = user.username
  return { name, id: user.id + 0 }
})
app.register(async (scope) => {
  scope.addHook('preHandler', loginRequired)
  scope.get('/settings', { preHandler: [freshLoginRequired, loginGuard({ fresh: true, freshFor: 60_000 })] }, async (request) => {
    const ended: string | null = request.loginEndReason
    return { fresh: request.isFresh(), ended }
  })
})
const login = await loginAs(app, { id: 1, username: 'user1' }, { remember: true })
const res = await app.inject({ url: '/me', cookies: login.cookies })
const anonymous = await app.inject({ url: '/me' })
const settings = await app.inject({ url: '/settings', cookies: login.cookies })
const settingsAnonymous = await app.inject({ url: '/settings' })
console.log(JSON.stringify({
  body: res.json(),
  anonymous: anonymous.statusCode,
  settings: settings.json(),
  settingsAnonymous: settingsAnonymous.statusCode,
  same: fastifyLogin === named,
  safe: isSafeRedirect('/ok') && !isSafeRedirect('//evil.com'),
  cookies: Object.keys(login.cookies).sort()
}))
await app.close()
`

const EXPECTED = {
  body: { name: 'user1', id: 1 },
  anonymous: 401,
  settings: { fresh: true, ended: null },
  settingsAnonymous: 401,
  same: true,
  safe: true,
  cookies: ['remember_token', 'sessionId']
}

async function compileAndRun (dir, entry) {
  await run(process.execPath, [TSC, '-p', dir], { cwd: dir }).catch((error) => {
    throw new Error(`tsc failed in ${path.basename(dir)}:\n${error.stdout}${error.stderr}`)
  })
  const { stdout } = await run(process.execPath, [path.join(dir, 'out', entry)], { cwd: dir })
  return JSON.parse(stdout.trim().split('\n').pop())
}

// tsc runs take a few seconds each: the consumers are compiled side by side.
describe('consumer projects', { concurrency: true }, () => {
  test('ESM with module nodenext: default and named imports, declaration merging, the testing entry, and @fastify/jwt beside it', async () => {
    const dir = consumer('esm', {
      type: 'module',
      compilerOptions: { module: 'nodenext' },
      source: {
        'index.ts': `import Fastify from 'fastify'
  import fastifyCookie from '@fastify/cookie'
  import fastifySession from '@fastify/session'
  import fastifyLogin, { fastifyLogin as named, isSafeRedirect, loginRequired, freshLoginRequired, loginGuard, type FastifyLoginOptions } from 'fastify-login'
  import { loginAs } from 'fastify-login/testing'
  ${USER_TYPE}
  const options: FastifyLoginOptions = { loadUser: () => null }
  void options
  ${APP_BODY}`,
        'jwt.ts': `import Fastify from 'fastify'
  import fastifyCookie from '@fastify/cookie'
  import fastifySession from '@fastify/session'
  import fastifyJwt from '@fastify/jwt'
  import fastifyLogin, { type LoginUser } from 'fastify-login'

  // @fastify/jwt types request.user as its FastifyJWT user: make it the same as fastify-login's.
  declare module '@fastify/jwt' {
    interface FastifyJWT {
      payload: { sub: number }
      user: LoginUser | null
    }
  }

  const users = new Map([[1, { id: 1, username: 'user1' }]])
  export async function build () {
    const app = Fastify()
    await app.register(fastifyCookie)
    await app.register(fastifySession, { secret: 'a-session-secret-that-is-long-enough-0123456789' })
    await app.register(fastifyLogin, {
      loadUser: async (id) => users.get(Number(id)) ?? null,
      loadUserFromRequest: async (request) => {
        try {
          const payload = await request.jwtVerify<{ sub: number }>()
          return users.get(payload.sub) ?? null
        } catch {
          return null
        }
      }
    })
    await app.register(fastifyJwt, { secret: 'a-jwt-secret-that-is-long-enough-0123456789', decoratorName: 'jwtPayload' })
    app.get('/api/me', { preHandler: app.loginRequired }, async (request) => request.requireUser().username)
    return app
  }
  `
      }
    })
    assert.deepEqual(await compileAndRun(dir, 'index.js'), EXPECTED)
  })

  test('CommonJS with module node16: import = require(), the default import and the named import', async () => {
    const dir = consumer('cjs', {
      type: 'commonjs',
      compilerOptions: { module: 'node16' },
      source: {
        'index.ts': `import Fastify = require('fastify')
  import fastifyCookie = require('@fastify/cookie')
  import fastifySession = require('@fastify/session')
  import fastifyLoginRequired = require('fastify-login')
  import fastifyLogin from 'fastify-login'
  import { fastifyLogin as named, isSafeRedirect, loginRequired, freshLoginRequired, loginGuard } from 'fastify-login'
  import { loginAs } from 'fastify-login/testing'
  ${USER_TYPE}
  async function main () {
    if (fastifyLoginRequired !== fastifyLogin) throw new Error('require() and the default import differ')
  ${APP_BODY.replace(/^/gm, '  ')}
  }
  main().catch((error) => { console.error(error); process.exit(1) })
  `
      }
    })
    assert.deepEqual(await compileAndRun(dir, 'index.js'), EXPECTED)
  })

  test('module esnext with moduleResolution bundler', async () => {
    const dir = consumer('bundler', {
      type: 'module',
      compilerOptions: { module: 'esnext', moduleResolution: 'bundler' },
      source: {
        'index.ts': `import Fastify from 'fastify'
  import fastifyCookie from '@fastify/cookie'
  import fastifySession from '@fastify/session'
  import fastifyLogin, { fastifyLogin as named, isSafeRedirect, loginRequired, freshLoginRequired, loginGuard } from 'fastify-login'
  import { loginAs } from 'fastify-login/testing'
  ${USER_TYPE}
  ${APP_BODY}`
      }
    })
    assert.deepEqual(await compileAndRun(dir, 'index.js'), EXPECTED)
  })

  test('a wrong user shape does not compile in a consumer either', async () => {
    const dir = consumer('wrong', {
      type: 'module',
      compilerOptions: { module: 'nodenext', noEmit: true },
      source: {
        'index.ts': `import Fastify from 'fastify'
  import fastifyLogin from 'fastify-login'
  ${USER_TYPE}
  const app = Fastify()
  await app.register(fastifyLogin, { loadUser: async (id) => ({ id }) })
  `
      }
    })
    const result = await run(process.execPath, [TSC, '-p', dir], { cwd: dir }).then(() => null, (error) => error)
    assert.ok(result, 'tsc must fail')
    assert.match(result.stdout, /username/)
  })

  test('in a consumer that has not described its user, wrong users, guard options and lifecycle options do not compile, each one', async () => {
    // The lines marked `// wrong` hold one mistake each and must fail; every other line must compile.
    const lines = [
      "import Fastify from 'fastify'",
      "import fastifyLogin, { loginGuard } from 'fastify-login'",
      "import { loginAs } from 'fastify-login/testing'",
      'const app = Fastify()',
      'await app.register(fastifyLogin, { loadUser: async () => ({ id: 1 }), idleTimeout: 60_000 })',
      "await app.register(fastifyLogin, { loadUser: () => 'bob' }) // wrong",
      "await app.register(fastifyLogin, { loadUser: () => null, idleTimeout: '30m' }) // wrong",
      "await app.register(fastifyLogin, { loadUser: () => null, canImpersonate: () => 'yes' }) // wrong",
      'loginGuard({ fresh: true, freshFor: 60_000 })',
      'loginGuard({ freshFor: 60_000 }) // wrong',
      "app.post('/login', async (request, reply) => {",
      '  await reply.loginUser({ id: 1 })',
      "  await reply.loginUser('bob') // wrong",
      "  await reply.impersonate('alice') // wrong",
      "  return reply.redirect('/')",
      '})',
      "await loginAs(app, 'bob') // wrong"
    ]
    const dir = consumer('wrong-options', {
      type: 'module',
      compilerOptions: { module: 'nodenext', noEmit: true },
      source: { 'index.ts': lines.join('\n') + '\n' }
    })
    const result = await run(process.execPath, [TSC, '-p', dir], { cwd: dir }).then(() => null, (error) => error)
    assert.ok(result, 'tsc must fail')
    const failed = new Set([...result.stdout.matchAll(/^src\/index\.ts\((\d+),\d+\): error/gm)].map((match) => Number(match[1])))
    lines.forEach((line, i) => {
      const mistake = line.endsWith('// wrong')
      assert.equal(failed.has(i + 1), mistake, `line ${i + 1} (${line.trim()}) ${mistake ? 'must not' : 'must'} compile:\n${result.stdout}`)
    })
  })
})

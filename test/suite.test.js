'use strict'

// The suite's own guarantees: every file of test/both covers both session plugins,
// every file that loads the package refuses a stale build, and the staleness check
// names what is stale.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { staleBuild, assertFreshBuild } = require('./support/build')

const TEST = __dirname
const read = (file) => fs.readFileSync(path.join(TEST, file), 'utf8')
const testFiles = (dir) => fs.readdirSync(path.join(TEST, dir)).filter((f) => f.endsWith('.test.js')).map((f) => path.join(dir, f))

test('every file of test/both runs itself on both session plugins', () => {
  const files = testFiles('both')
  assert.ok(files.length > 0)
  for (const file of files) {
    assert.match(read(file), /^require\('\.\.\/support\/session-plugins'\)\.onBothPlugins\(__filename\)$/m,
      `${file} must call require('../support/session-plugins').onBothPlugins(__filename) near its top`)
  }
})

// package.test.js packs the package from a clean copy of the tree (prepack builds
// it there): it never loads this checkout's dist/.
const BUILDS_ITS_OWN = new Set(['package.test.js'])

test('every test file that loads the package checks first that dist/ is the build of lib/', () => {
  for (const file of [...testFiles('.'), ...testFiles('both')]) {
    if (BUILDS_ITS_OWN.has(file)) continue
    const source = read(file)
    const loadsPackage = /require\((['"])fastify-login(\/testing)?\1\)|\.\.\/dist\/|example', 'app|example\/app/.test(source)
    if (!loadsPackage) continue
    assert.match(source, /require\('(\.\.?\/)+(helper|support\/build)'\)/,
      `${file} loads the package: require test/helper.js or test/support/build.js so that a stale build fails it`)
  }
})

/** A scratch package with lib/ and dist/ files, at the given ages in seconds. */
function scratchTree (t, files) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fastify-login-build-'))
  t.after(() => fs.rmSync(root, { recursive: true, force: true }))
  const now = Date.now() / 1000
  for (const [file, age] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true })
    fs.writeFileSync(path.join(root, file), '')
    fs.utimesSync(path.join(root, file), now - age, now - age)
  }
  return root
}

test('a build newer than every source is fresh', (t) => {
  const root = scratchTree(t, { 'lib/a.ts': 60, 'lib/stores/b.ts': 60, 'dist/a.js': 10, 'dist/a.d.ts': 10, 'dist/stores/b.js': 10, 'tsconfig.json': 600 })
  assert.equal(staleBuild(root), null)
  assert.doesNotThrow(() => assertFreshBuild(root))
})

test('a source edited after the build is named, with the command to run', (t) => {
  const root = scratchTree(t, { 'lib/a.ts': 60, 'lib/stores/b.ts': 5, 'dist/a.js': 10, 'dist/stores/b.js': 10 })
  assert.match(staleBuild(root), /^lib\/stores\/b\.ts changed at .*, after dist\/ was built at /)
  assert.throws(() => assertFreshBuild(root), (error) => {
    assert.equal(error.code, 'STALE_BUILD')
    assert.match(error.message, /lib\/stores\/b\.ts changed at/)
    assert.match(error.message, /Run `npm run build` first/)
    return true
  })
})

test('a tsconfig edited after the build makes it stale too', (t) => {
  const root = scratchTree(t, { 'lib/a.ts': 60, 'dist/a.js': 10, 'tsconfig.build.json': 1 })
  assert.match(staleBuild(root), /^tsconfig\.build\.json changed at/)
})

test('no build, a new source without output, and output of a removed source are stale', (t) => {
  assert.equal(staleBuild(scratchTree(t, { 'lib/a.ts': 60 })), 'there is no build in dist/')
  assert.equal(staleBuild(scratchTree(t, { 'lib/a.ts': 60, 'lib/new.ts': 60, 'dist/a.js': 10 })), 'lib/new.ts has no build in dist/')
  assert.equal(staleBuild(scratchTree(t, { 'lib/a.ts': 60, 'dist/a.js': 10, 'dist/old.js': 10 })),
    'dist/old.js is the build of a lib/ file that no longer exists')
})

test('this checkout\'s build is fresh (the suite would not have started otherwise)', () => {
  assert.equal(staleBuild(), null)
})

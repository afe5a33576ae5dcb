'use strict'

// The tests load the package as its users do, `require('fastify-login')`, which
// resolves to the build in dist/. A test run after an edit of lib/ without a build
// would test the old code and pass or fail for reasons that are not in the source.
// Loading this module (test/helper.js does) makes that loud: it throws, naming the
// newer source file and the command to run, when any lib/ file (or a tsconfig that
// shapes the build) is newer than the oldest file of dist/, when a source has no
// output, or when dist/ holds the output of a source that no longer exists. It reads
// only file times (a few dozen stat calls), so every test file can afford it, under
// `npm test` and under `node --test` alike.

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..', '..')
const BUILD_COMMAND = 'npm run build'

/** Every file under `dir` (recursively), as paths relative to `dir`; [] when it does not exist. */
function filesUnder (dir) {
  try {
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)))
  } catch (error) {
    if (error.code === 'ENOENT') return []
    throw error
  }
}

const mtime = (file) => fs.statSync(file).mtimeMs

/**
 * Why the build in `root`/dist is not the build of `root`/lib, or null when it is.
 * A source is `lib/**\/*.ts` (declarations excluded); its output is the `.js` beside
 * the same relative path in dist/.
 */
function staleBuild (root = ROOT) {
  const lib = path.join(root, 'lib')
  const dist = path.join(root, 'dist')
  const sources = filesUnder(lib).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  const outputs = filesUnder(dist).filter((file) => file.endsWith('.js'))
  if (outputs.length === 0) return 'there is no build in dist/'

  const expected = new Set(sources.map((file) => file.replace(/\.ts$/, '.js')))
  const missing = [...expected].find((file) => !outputs.includes(file))
  if (missing) return `lib/${missing.replace(/\.js$/, '.ts')} has no build in dist/`
  const orphan = outputs.find((file) => !expected.has(file))
  if (orphan) return `dist/${orphan} is the build of a lib/ file that no longer exists`

  const built = Math.min(...filesUnder(dist).map((file) => mtime(path.join(dist, file))))
  const inputs = [
    ...sources.map((file) => path.join('lib', file)),
    'tsconfig.json',
    'tsconfig.build.json'
  ].filter((file) => fs.existsSync(path.join(root, file)))
  const newer = inputs
    .map((file) => ({ file, time: mtime(path.join(root, file)) }))
    .filter(({ time }) => time > built)
    .sort((a, b) => b.time - a.time)
  if (newer.length === 0) return null
  const when = (time) => new Date(time).toISOString().replace('T', ' ').slice(0, 19)
  const more = newer.length > 1 ? ` (and ${newer.length - 1} more)` : ''
  return `${newer[0].file}${more} changed at ${when(newer[0].time)}, after dist/ was built at ${when(built)}`
}

/** Throws when dist/ is not the build of lib/, so that no test runs the old code. */
function assertFreshBuild (root = ROOT) {
  const reason = staleBuild(root)
  if (reason === null) return
  const error = new Error(`The tests run the build in dist/, and it is stale: ${reason}. Run \`${BUILD_COMMAND}\` first.`)
  error.code = 'STALE_BUILD'
  throw error
}

assertFreshBuild()

module.exports = { staleBuild, assertFreshBuild, BUILD_COMMAND }

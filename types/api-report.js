'use strict'

// The public surface of fastify-login, as a reviewed file: types/fastify-login.api.md.
//
//   node types/api-report.js           writes it (`npm run api`, after a build)
//   node types/api-report.js --check   fails with a diff when it is not current (`npm test`)
//
// It reads the built declarations (dist/*.d.ts, what the package ships) with the
// TypeScript compiler API, starting from each entry point of package.json's
// `exports`, and prints, declaration by declaration without comments:
//   - every name the entry point offers (the names on `require('fastify-login')`,
//     including the types of its `export =` namespace), sorted;
//   - every augmentation of another module (`declare module 'fastify'`) in the
//     declarations an entry point loads: they change the app's own types;
//   - every type of the package that those declarations name but no entry point
//     exports (an internal that leaks: an app cannot name it). Both modes fail
//     while there is one: export it, or keep it out of the public signature.
// Both modes also fail when the values the types declare are not the names the
// built module carries at run time (the `module.exports.X = X` list of
// lib/index.ts is kept by hand beside its `export =` namespace).
// A changed option, a new export or a helper that starts to leak changes this file,
// so the change is seen, and approved, in the diff that makes it.

const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')

const ROOT = path.join(__dirname, '..')
const DIST = path.join(ROOT, 'dist') + path.sep
const REPORT = path.join(__dirname, 'fastify-login.api.md')

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

/** The entry points: `fastify-login`, `fastify-login/testing`, ..., each with its declaration file. */
function entryPoints () {
  const entries = []
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target !== 'object' || target.types === undefined) continue
    const file = path.join(ROOT, target.types)
    if (!fs.existsSync(file)) throw new Error(`${target.types} is missing: run npm run build first`)
    entries.push({ specifier: path.posix.join(pkg.name, subpath), file })
  }
  return entries
}

const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed })

function isOwn (declaration) {
  return declaration.getSourceFile().fileName.startsWith(DIST.split(path.sep).join('/'))
}

function resolve (checker, symbol) {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
}

/** A declaration as the report shows it: no comments, no `export`/`declare`, four-space indents. */
function print (node) {
  const statement = ts.isVariableDeclaration(node) ? node.parent.parent : node
  const text = printer.printNode(ts.EmitHint.Unspecified, statement, statement.getSourceFile())
  return text.replace(/^(export )?(default )?(declare )?/, '')
}

/** The package's own symbols a declaration names (types, `typeof` values, computed keys, base classes). */
function namedSymbols (checker, node) {
  const found = []
  const visit = (child) => {
    let symbol
    if (ts.isTypeReferenceNode(child)) symbol = checker.getSymbolAtLocation(rightmost(child.typeName))
    else if (ts.isExpressionWithTypeArguments(child)) symbol = checker.getSymbolAtLocation(child.expression)
    else if (ts.isTypeQueryNode(child)) symbol = checker.getSymbolAtLocation(rightmost(child.exprName))
    else if (ts.isComputedPropertyName(child) && ts.isIdentifier(child.expression)) symbol = checker.getSymbolAtLocation(child.expression)
    else if (ts.isImportTypeNode(child)) {
      const type = checker.getTypeFromTypeNode(child)
      symbol = type.aliasSymbol ?? type.symbol
    }
    if (symbol !== undefined) {
      symbol = resolve(checker, symbol)
      // Only the package's own: a symbol merged with another module's (`FastifyRequest`) is that module's.
      if (!(symbol.flags & ts.SymbolFlags.TypeParameter) && symbol.declarations?.length && symbol.declarations.every(isOwn)) found.push(symbol)
    }
    ts.forEachChild(child, visit)
  }
  visit(node)
  return found
}

function rightmost (name) {
  return ts.isQualifiedName(name) ? name.right : name
}

function relative (file) {
  return path.relative(ROOT, file).split(path.sep).join('/')
}

function generate () {
  const entries = entryPoints()
  const program = ts.createProgram(entries.map((entry) => entry.file), {
    strict: true,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
    noEmit: true
  })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  if (diagnostics.length > 0) {
    throw new Error(ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (name) => name, getCurrentDirectory: () => ROOT, getNewLine: () => '\n'
    }))
  }
  const checker = program.getTypeChecker()
  const problems = []

  // Every symbol some entry point exports, by its exported names.
  const exported = new Map()
  const sections = []
  for (const entry of entries) {
    const source = program.getSourceFile(entry.file)
    const moduleSymbol = checker.getSymbolAtLocation(source)
    problems.push(...runtimeMismatch(checker, entry, moduleSymbol))
    const lines = []
    const exportEquals = moduleSymbol.exports.get(ts.InternalSymbolName.ExportEquals)
    if (exportEquals !== undefined) {
      // `export = fastifyLogin`: the function comes first; its namespace is the list of names below.
      const target = resolve(checker, exportEquals)
      exported.set(target, { name: target.name, entry: entry.specifier })
      lines.push(`export = ${target.name}`, '')
      for (const declaration of declarationsOf(target)) {
        if (!ts.isModuleDeclaration(declaration)) lines.push(print(declaration), '')
      }
    }
    const names = checker.getExportsOfModule(moduleSymbol).map((symbol) => ({ name: symbol.escapedName.toString(), symbol }))
    names.sort((a, b) => compare(a.name, b.name))
    for (const { name, symbol } of names) {
      const target = resolve(checker, symbol)
      const known = exported.get(target)
      if (known !== undefined) {
        // The same declaration under a second name (`default`), or again from another entry point.
        lines.push(`export { ${known.name === name ? name : `${known.name} as ${name}`} }` +
          (known.entry === entry.specifier ? '' : ` // from '${known.entry}'`), '')
        continue
      }
      exported.set(target, { name, entry: entry.specifier })
      if (name !== target.name) lines.push(`export { ${target.name} as ${name} }`, '')
      for (const declaration of declarationsOf(target)) lines.push(print(declaration), '')
    }
    sections.push({ title: `\`${entry.specifier}\``, lines })
  }
  // The package's types that the public declarations name but nothing exports.
  const internal = new Map()
  const augmentations = []
  for (const file of program.getSourceFiles()) {
    if (!file.fileName.startsWith(DIST.split(path.sep).join('/'))) continue
    for (const statement of file.statements) {
      if (ts.isModuleDeclaration(statement) && (ts.isStringLiteral(statement.name) || statement.name.text === 'global')) {
        augmentations.push({ file: relative(file.fileName), node: statement })
      }
    }
  }
  const pending = [...[...exported.keys()].flatMap(declarationsOf), ...augmentations.map((a) => a.node)]
  while (pending.length > 0) {
    const node = pending.shift()
    for (const symbol of namedSymbols(checker, node)) {
      if (exported.has(symbol) || internal.has(symbol)) continue
      internal.set(symbol, declarationsOf(symbol))
      pending.push(...declarationsOf(symbol))
    }
  }

  const out = [
    '# fastify-login: the public surface',
    '',
    'Generated from the built declarations (dist/) by `npm run api`; `npm test` fails when it is not current.',
    'Review every change to this file: it is a change to what users import. Comments are left out.',
    ''
  ]
  for (const section of sections) {
    out.push(`## ${section.title}`, '', '```ts', ...trimEnd(section.lines), '```', '')
  }
  out.push('## Augmentations of other modules', '',
    'Loaded with the package\'s declarations: they change the types of the app\'s own `fastify`.', '')
  for (const { file, node } of augmentations) out.push(`${file}:`, '', '```ts', print(node), '```', '')
  out.push('## Internal types the public surface names', '',
    'Named by a declaration above but exported by no entry point: an app can use them only through that declaration.', '')
  if (internal.size === 0) out.push('None.', '')
  else {
    problems.push(`The public declarations name types that no entry point exports: ${[...internal.keys()].map((s) => s.name).sort().join(', ')}.\n` +
      'Export each from lib/index.ts, or keep it out of the public signature (see the last section of the report).')
    const sorted = [...internal].sort(([a], [b]) => compare(a.name, b.name))
    out.push('```ts')
    for (const [, declarations] of sorted) {
      out.push(`// ${relative(declarations[0].getSourceFile().fileName)}`)
      for (const declaration of declarations) out.push(print(declaration), '')
    }
    trimEnd(out)
    out.push('```', '')
  }
  return { text: out.join('\n'), problems }
}

/** The value names the entry point's types declare, against the names its built module carries. */
function runtimeMismatch (checker, entry, moduleSymbol) {
  const declared = checker.getExportsOfModule(moduleSymbol)
    .filter((symbol) => resolve(checker, symbol).flags & ts.SymbolFlags.Value)
    .map((symbol) => symbol.escapedName.toString())
  const runtime = Object.keys(require(entry.file.replace(/\.d\.ts$/, '.js')))
  const missing = declared.filter((name) => !runtime.includes(name))
  const undeclared = runtime.filter((name) => !declared.includes(name))
  const problems = []
  if (missing.length > 0) problems.push(`'${entry.specifier}' is typed with values it does not carry at run time: ${missing.join(', ')}.`)
  if (undeclared.length > 0) problems.push(`'${entry.specifier}' carries values at run time that its types do not declare: ${undeclared.join(', ')}.`)
  return problems
}

/** The declarations of a symbol in the package, in source order. */
function declarationsOf (symbol) {
  return (symbol.declarations ?? []).filter(isOwn)
}

function trimEnd (lines) {
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  return lines
}

function compare (a, b) {
  return a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : a < b ? -1 : a > b ? 1 : 0
}

/** A unified diff of two texts, three lines of context, for a reader (not for `patch`). */
function diff (before, after) {
  const a = before.split('\n')
  const b = after.split('\n')
  // Longest common subsequence, from the end, so the walk below goes forwards.
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1])
    }
  }
  const ops = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push({ op: ' ', line: a[i++], at: j++ })
    else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ op: '-', line: a[i++], at: j })
    else ops.push({ op: '+', line: b[j], at: j++ })
  }
  const shown = new Set()
  ops.forEach((op, k) => {
    if (op.op === ' ') return
    for (let c = Math.max(0, k - 3); c <= Math.min(ops.length - 1, k + 3); c++) shown.add(c)
  })
  const out = []
  let last = -1
  for (let k = 0; k < ops.length; k++) {
    if (!shown.has(k)) continue
    if (k !== last + 1) out.push(`@@ near line ${ops[k].at + 1} of the new surface @@`)
    out.push(`${ops[k].op}${ops[k].line}`)
    last = k
  }
  return out.join('\n')
}

function main () {
  const { text, problems } = generate()
  const name = relative(REPORT)
  for (const problem of problems) console.error(problem)
  if (problems.length > 0) process.exitCode = 1
  if (!process.argv.includes('--check')) {
    fs.writeFileSync(REPORT, text)
    console.log(`wrote ${name}`)
    return
  }
  if (!fs.existsSync(REPORT)) {
    console.error(`${name} is missing: run \`npm run api\` and commit it.`)
    process.exitCode = 1
    return
  }
  const committed = fs.readFileSync(REPORT, 'utf8')
  if (committed === text) {
    if (problems.length === 0) console.log(`${name} is current`)
    return
  }
  console.error(`The public surface changed and ${name} was not regenerated.\n` +
    `Review the change below; if it is meant, run \`npm run api\` and commit ${name}.\n` +
    `(- ${name}, + the surface the build now has)\n`)
  console.error(diff(committed, text))
  process.exitCode = 1
}

main()

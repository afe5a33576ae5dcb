'use strict'

// Splits the instructions of one callgrind dump into three parts:
//   gc      V8's garbage collector (scavenges, mark-compact, incremental marking
//           steps, lazy sweeping, the marking write barrier) and cppgc's,
//   jit     compilation (lazy bytecode compilation, Sparkplug, TurboFan) and
//           deoptimisation,
//   request everything else: the work a request does.
//
// A part is the inclusive cost of the calls INTO it: calls from a function outside
// the part to a function whose name matches the part's pattern. Calls from inside
// (a GC function calling another) are already in the caller's inclusive cost and
// are not counted twice. A function that is only ever called from inside a part
// (e.g. the thread-pool join the scavenger runs its job through) is inside it
// too. The names are C++ symbols of the node binary; callgrind records the
// inclusive cost of every call, so nothing here is sampled or estimated.

const GC = [
  /^v8::internal::Heap::(CollectGarbage|CollectAllGarbage|CollectAllAvailableGarbage|PerformGarbageCollection|Scavenge|MarkCompact|MinorMarkCompact|StartIncrementalMarking|FinalizeIncrementalMarking|HandleGCRequest|CompleteSweepingFull|CompleteSweepingYoung|EnsureSweepingCompleted|ReduceNewSpaceSize|ProcessAllWeakReferences)/,
  /^v8::internal::(ScavengerCollector|Scavenger|MarkCompactCollector|MinorMarkCompactCollector|IncrementalMarking|IncrementalMarkingJob|ScavengeJob|Sweeper|ConcurrentMarking|MarkingBarrier|ArrayBufferSweeper|GCTracer|MemoryReducer|CppHeap|LocalEmbedderHeapTracer)::/,
  /^v8::internal::WriteBarrier::Marking/,
  /^v8::internal::(anonymous namespace)::.*(Marking|Sweep|Scaveng|Evacuat)/,
  /^cppgc::internal::(Marker|MarkerBase|Sweeper|HeapBase::|Heap::CollectGarbage|ConservativeTracingVisitor|MarkingVisitor)/,
  /^node::.*GCCallback|^node::PerformanceState::.*GC|^node::(BeforeGCCallback|AfterGCCallback)/
]

const JIT = [
  /^v8::internal::Compiler::/,
  /^v8::internal::compiler::/,
  /^v8::internal::(baseline|maglev|interpreter)::(?!Interpreter::GetDispatchCounts)/,
  /^v8::internal::(BaselineBatchCompiler|OptimizedCompilationJob|TurbofanCompilationJob|UnoptimizedCompilationJob|Parser|ParserBase|PreParser|Deoptimizer|TranslatedState|TranslatedFrame|OSROptimizedCodeCache|BackgroundCompileTask)::/,
  /^v8::internal::parsing::/,
  /^v8::internal::Runtime_(CompileLazy|CompileOptimized|CompileBaseline|InstallBaselineCode|CompileOptimizedOSR|CompileOptimizedOSRFromMaglev|NotifyDeoptimized|DeoptimizeNow|HealOptimizedCodeSlot|InstantiateAsmJs)\(/
]

const FULL_GC = /^v8::internal::(MarkCompactCollector::CollectGarbage|IncrementalMarking::Start)\(/

function matches (patterns, name) {
  for (const re of patterns) if (re.test(name)) return true
  return false
}

// The functions inside a part: its members, and (to a fixpoint) every function
// that is only called from inside it.
function inside (data, patterns) {
  const members = new Set()
  for (const name of data.fns.keys()) if (matches(patterns, name)) members.add(name)
  const callers = new Map()
  for (const [caller, e] of data.fns) {
    for (const callee of e.calls.keys()) {
      if (callee === caller) continue
      let set = callers.get(callee)
      if (set === undefined) callers.set(callee, (set = new Set()))
      set.add(caller)
    }
  }
  const within = new Set(members)
  let grew = true
  while (grew) {
    grew = false
    for (const [callee, set] of callers) {
      if (within.has(callee)) continue
      let all = true
      for (const c of set) if (!within.has(c)) { all = false; break }
      if (all) { within.add(callee); grew = true }
    }
  }
  return { members, within }
}

function partCost (data, patterns, otherWithin = new Set()) {
  const { members, within } = inside(data, patterns)
  let cost = 0
  const entries = new Map()
  for (const [caller, e] of data.fns) {
    if (within.has(caller)) continue
    for (const [callee, edge] of e.calls) {
      if (!members.has(callee) || callee === caller) continue
      cost += edge.inclusive
      entries.set(callee, (entries.get(callee) ?? 0) + edge.inclusive)
    }
  }
  return { cost, entries, within }
}

/**
 * { total, request, gc, jit, gcEntries, jitEntries }. A GC that runs inside a
 * compilation (the compiler allocates) is counted in jit, not twice.
 */
function split (data) {
  const jit = partCost(data, JIT)
  const gcAll = partCost(data, GC)
  // GC reached from inside a compilation is already in jit: take it out of gc.
  let gcInJit = 0
  for (const caller of jit.within) {
    const e = data.fns.get(caller)
    if (e === undefined || gcAll.within.has(caller)) continue
    for (const [callee, edge] of e.calls) {
      if (GC.some((re) => re.test(callee))) gcInJit += edge.inclusive
    }
  }
  const gc = gcAll.cost - gcInJit
  // A full GC (or the start of its incremental marking) inside a window: the
  // run is set up so that none happens (bench/cost.js), and says so when one did.
  let fullGcs = 0
  for (const e of data.fns.values()) {
    for (const [callee, edge] of e.calls) {
      if (FULL_GC.test(callee)) fullGcs += edge.count
    }
  }
  return {
    fullGcs,
    total: data.total,
    request: data.total - gc - jit.cost,
    gc,
    jit: jit.cost,
    gcEntries: gcAll.entries,
    jitEntries: jit.entries
  }
}

module.exports = { split, inside, GC, JIT, matches }

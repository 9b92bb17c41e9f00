#!/usr/bin/env node
// Part of `npm run lint`: import cycles in every workspace's sources, at two levels. dpdm builds the
// import graph; this script reports cycles between files, and between the folders of one package
// (`state/` importing `runtime/` while `runtime/` imports `state/`), which tangle a package's
// layers even when no two files import each other. Exits 1 when either level has one.
import { relative, dirname } from 'node:path';
import { parseCircular, parseDependencyTree } from 'dpdm';

const SOURCES = ['shared/*/src/**/*.ts', 'services/*/src/**/*.ts'];

/** `shared/engine/src/state/x.ts` -> `shared/engine/src/state`; null outside a workspace's src/. */
const folderOf = (file) => (/^(shared|services)\/[^/]+\/src\//.test(file) ? dirname(file) : null);
const packageOf = (file) => file.split('/').slice(0, 2).join('/');

/** Strongly connected components of more than one node (Tarjan), each a set of nodes on a cycle. */
function cycles(edges) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  let next = 0;
  const visit = (node) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of edges.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node), low.get(to)));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node), index.get(to)));
    }
    if (low.get(node) !== index.get(node)) return;
    const component = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) found.push(component.sort());
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return found;
}

const cwd = process.cwd();
const tree = await parseDependencyTree(SOURCES, { cwd, transform: true });
const fileCycles = parseCircular(tree).map((cycle) => cycle.map((file) => relative(cwd, file)));

const folderEdges = new Map();
for (const [from, deps] of Object.entries(tree)) {
  const source = folderOf(relative(cwd, from));
  if (!source) continue;
  for (const dep of deps ?? []) {
    const target = dep.id ? folderOf(relative(cwd, dep.id)) : null;
    if (!target || target === source || packageOf(target) !== packageOf(source)) continue;
    if (!folderEdges.has(source)) folderEdges.set(source, new Set());
    folderEdges.get(source).add(target);
  }
}
const folderCycles = cycles(folderEdges);

for (const cycle of fileCycles) console.error(`file cycle: ${cycle.join(' -> ')}`);
for (const cycle of folderCycles) console.error(`folder cycle among: ${cycle.join(', ')}`);
const files = Object.keys(tree).filter((file) => /^(shared|services)\/[^/]+\/src\//.test(file)).length;
console.log(
  `import cycles: ${fileCycles.length} between files, ${folderCycles.length} between folders (${files} files)`,
);
process.exitCode = fileCycles.length + folderCycles.length > 0 ? 1 : 0;

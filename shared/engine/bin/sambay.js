#!/usr/bin/env node
// Committed shim: npm links bins at install time, before `tsc -b` has produced dist/.
import '../dist/cli/sambay.js';

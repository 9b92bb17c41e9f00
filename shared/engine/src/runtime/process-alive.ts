/**
 * Whether a process with this pid exists on this machine (EPERM: it does, owned by someone else).
 * Files named by their writer's pid (compile dirs, weight-cache entries being written) are another
 * process's work while it lives and leftovers once it is gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

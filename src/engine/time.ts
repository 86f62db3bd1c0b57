// The two ways the engine gives the event loop back: a timer (Node's are millisecond-grained at best, so the
// pacer and the waits ask "how much now" on each wake-up) and the next turn of the loop (answers arrive from
// libuv callbacks, which need the loop to run between two batches).

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

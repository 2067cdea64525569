// Frozen for good: only SIGKILL ends it.
setTimeout(function spinForever() {
  console.log('spinning');
  while (true) {}
}, 50);

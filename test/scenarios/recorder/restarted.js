// A restarted service: says whether the hook's collect code was loaded in this process by the time its
// start-up collect of a dead predecessor is done (it runs in a process of its own), then 'ready'.
setTimeout(() => {
  const loaded = Object.keys(require.cache).some((k) => /[\\/]hook[\\/]collect\.js$/.test(k));
  console.log(`collect code loaded here: ${loaded}`);
  console.log('ready');
}, 1500);
setInterval(() => {}, 1000);

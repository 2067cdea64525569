// Breadcrumbs every 50 ms until the test kills this process with SIGKILL (or it exits after argv[2] ms).
const { breadcrumb } = require('autopsy-ts');
let i = 0;
setInterval(() => breadcrumb('tick', { i: i++, at: Date.now() }), 50);
setTimeout(() => console.log('ready'), 300);
// With an argument: exit cleanly after that many ms.
if (process.argv[2]) setTimeout(() => process.exit(0), Number(process.argv[2]));

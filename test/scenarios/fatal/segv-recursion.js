// A real SIGSEGV: under --stack-size=50000 V8 believes the stack is 50 MB, so unbounded recursion runs
// past the real 8 MB stack into its guard page instead of throwing RangeError.
function descendForever(depth) {
  return descendForever(depth + 1) + 1;
}
// After the hook's first loop turn, when the handlers are armed.
setTimeout(function startDescent() {
  console.log('descending');
  descendForever(0);
}, Number(process.env.DELAY_MS || 300));

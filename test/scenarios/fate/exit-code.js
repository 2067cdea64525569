console.log('exiting with 7');
process.exit(7);

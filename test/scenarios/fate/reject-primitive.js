Promise.reject(42);
setTimeout(() => console.log('still alive after 50ms'), 50);

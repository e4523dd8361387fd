// Starts the telegram-test-api Bot API emulator for the e2e tests:
//   node emulator.js PORT
// Prints one line "ready PORT" once it listens; stops cleanly on SIGTERM or SIGINT.
'use strict';
const TelegramServer = require('telegram-test-api');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node emulator.js PORT');
  process.exit(2);
}
// storeTimeout: unread messages are kept for 10 minutes (the default, 60 s, is shorter
// than a slow CI run).
const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 600 });

server.start().then(
  () => console.log(`ready ${port}`),
  (err) => {
    console.error(`emulator failed to start: ${err}`);
    process.exit(1);
  },
);

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    server.stop().finally(() => process.exit(0));
  });
}

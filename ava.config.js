export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx', '--expose-gc'],
  timeout: '5m',
  workerThreads: false,
};

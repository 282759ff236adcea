// @mtlskit/azure: work in progress.
export {};

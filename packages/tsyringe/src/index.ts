// @mtlskit/tsyringe: work in progress.
export {};
